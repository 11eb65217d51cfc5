import pytest

from balkanwatch.textnorm import fold, words


@pytest.mark.parametrize("a, b", [
    ("Zvečan", "Zvecan"), ("Звечан", "Zvecan"), ("ĐAKOVICA", "djakovica"), ("Ђаковица", "Djakovica"),
    ("Љубљана", "Ljubljana"), ("Његош", "Njegos"), ("Џаковица", "dzakovica"), ("Kosovë", "Kosove"),
    ("Türkiye’s", "turkiye s"), ("Çarshia", "carshia"), ("Šabac-Žabljak", "sabac zabljak"),
])
def test_fold_matches_across_script_and_diacritics(a: str, b: str) -> None:
    assert fold(a) == fold(b)


def test_sentence_in_both_scripts() -> None:
    latin = "KFOR je pojačao patrole u Zvečanu i Zubinom Potoku nakon incidenta na severu Kosova."
    cyrillic = "КФОР је појачао патроле у Звечану и Зубином Потоку након инцидента на северу Косова."
    assert words(latin) == words(cyrillic)


def test_different_words_stay_different() -> None:
    assert fold("Kosovo") != fold("Kosova") and fold("Srbija") != fold("Hrvatska")


def test_fast_fold_equals_the_plain_definition_on_random_text():
    import random
    import unicodedata

    from balkanwatch.textnorm import _NON_WORD, _TABLE, fold

    def reference(text: str) -> str:   # the definition: casefold, transliterate, NFKD, drop marks
        t = unicodedata.normalize("NFKD", text.casefold().translate(_TABLE))
        return _NON_WORD.sub(" ", "".join(c for c in t if not unicodedata.combining(c))).replace("_", " ").strip()

    pool = [chr(c) for c in [*range(32, 0x250), *range(0x370, 0x530), *range(0x1E00, 0x1F00),
                             0x1D165, 0x10400, 0x301, 0x308, 0x5B0, 0x64B, 0xFB01, 0x2460]]
    rng = random.Random(7)
    for _ in range(5000):
        s = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        assert fold(s) == reference(s), s


def test_a_folded_word_is_shown_as_the_texts_spell_it_most() -> None:
    from balkanwatch.textnorm import spelled

    texts = ["Clash in Zvečan: KFOR deploys", "KFOR troops in ZVEČAN and Zvečan", "Сукоб у Звечану, Zvecan"]
    forms = spelled(["zvecan", "kfor", "deploys", "banjska", "zvecanu"], texts)
    assert forms == {"zvecan": "Zvečan", "kfor": "KFOR", "deploys": "deploys", "zvecanu": "Звечану"}


def test_an_event_s_words_written_side_by_side_are_shown_as_one_phrase() -> None:
    from balkanwatch.textnorm import phrases

    texts = ["Gunmen storm the Banjska monastery near North Mitrovica",
             "Police: Banjska monastery siege goes on; North Mitrovica tense",
             "The monastery in Banjska besieged, north Mitrovica calm",
             "Serbs in North Mitrovica protest"]
    # side by side in most texts holding both, in one order: one phrase, as written most, where its first word was
    assert phrases(["banjska", "monastery", "gunmen", "north", "mitrovica"], texts) == [
        "Banjska monastery", "Gunmen", "North Mitrovica"]
    assert phrases(["monastery", "banjska"], texts) == ["Banjska monastery"]
    # written apart in most texts: words, each as written most; a word no text holds stays as it is
    apart = ["Banjska: the monastery", "monastery near Banjska", "Banjska monastery"]
    assert phrases(["banjska", "monastery", "zvecan"], apart) == ["Banjska", "monastery", "zvecan"]
    # punctuation between two words breaks a phrase; one text is not enough; any script, as fold folds it
    assert phrases(["zvecan", "kfor"], ["Zvečan: KFOR", "Zvečan, KFOR", "Zvečan KFOR"]) == ["Zvečan", "KFOR"]
    assert phrases(["jarinje", "crossing"], ["Jarinje crossing shut"]) == ["Jarinje", "crossing"]
    assert phrases(["severna", "mitrovica"], ["Северна Митровица", "u Severnoj Mitrovici", "Северна Митровица"]) == [
        "Северна Митровица"]
