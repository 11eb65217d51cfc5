"""The benchmark's scoring functions score what they claim (they gate the floors)."""

from bench.dedupe_eval import PAYWALL, build, pair_scores
from bench.extraction import word_f1


def test_pair_scores_perfect_and_merged() -> None:
    labels = {"a": "1", "b": "1", "c": "2", "d": "3"}
    perfect = pair_scores(labels, {"a": "x", "b": "x", "c": "y", "d": "z"})
    assert (perfect.precision, perfect.recall, perfect.ari) == (1.0, 1.0, 1.0)
    merged = pair_scores(labels, {"a": "x", "b": "x", "c": "x", "d": "z"})   # c wrongly joined a/b
    assert merged.precision == 1 / 3 and merged.recall == 1.0 and merged.ari < 1.0
    split = pair_scores(labels, {"a": "x", "b": "w", "c": "y", "d": "z"})
    assert split.recall == 0.0 and split.precision == 1.0


def test_word_f1_as_wcxb() -> None:
    assert word_f1("The KFOR troops", "kfor troops the") == 1.0
    assert word_f1("", "something") == 0.0
    assert 0 < word_f1("KFOR troops in Zvečan", "KFOR troops") < 1


def test_labelled_set_is_deterministic_and_labelled() -> None:
    texts = [(f"t{i}", "\n".join(f"Paragraph {j} of article {i} " + "word " * 30 for j in range(6))) for i in range(12)]
    a, b = build(texts), build(texts)
    assert a == b
    templates = [d for d in a if d.doc_id.endswith("-template")]     # one site's paywalled articles
    notices = [d for d in a if d.doc_id.endswith("-notice")]         # another site's pages of the same notice
    assert {d.label for d in a} == {f"o{i}" for i in range(12)} | {d.label for d in templates + notices}
    assert [d.label for d in templates] == ["t0", "t4", "t8"] and {d.site for d in templates} == {0}
    assert all(d.paragraphs[-2:] == tuple(PAYWALL) for d in templates) and len({d.title for d in templates}) == 3
    assert [d.label for d in notices] == ["n0", "n4", "n8"] and {d.site for d in notices} == {2}
    assert all(d.paragraphs == tuple(PAYWALL) for d in notices) and len({d.title for d in notices}) == 3
    reposts = [d for d in a if d.doc_id.endswith("-repost")]        # the same site's re-posts: copies
    assert reposts and all(d.site == 1 and d.title.endswith("(updated)") for d in reposts)
    assert sum(d.doc_id.endswith("-orig") for d in a) == 12 and len(a) > 12 * 4


def test_the_chooser_bench_shortcut_is_the_chooser_and_the_search_prefers_fewer_extractors() -> None:
    from balkanwatch import chooser
    from bench import extraction_chooser as ec

    truth = " ".join(f"word{i} sentence{i % 7} about the bridge" for i in range(60))
    half = " ".join(truth.split()[:150])
    texts = dict.fromkeys((*ec.CHOOSER_POOL, *ec.CALLS), truth) | {"trafilatura": half}
    signals = chooser.PageSignals(len(half), 2 * len(half), 0.0, 1)

    def case(name: str, traf: str, first: str = truth) -> ec.PageCase:
        t = texts | {"trafilatura": traf, chooser.FIRST_OPINION: first}
        agreement = chooser.overlap(chooser.shingles(traf), chooser.shingles(t[chooser.FIRST_OPINION]))
        confirm = chooser.overlap(chooser.shingles(traf), chooser.shingles(t[chooser.CONFIRMER]))
        meds = {m: ec.token_f1(chooser.medoid([t[n] for n in ec.CHOOSER_POOL], *m), truth) for m in ec.margin_pairs()}
        return ec.PageCase(name, truth, signals, t, dict.fromkeys(t, 0.001) | {"signals": 0.0}, agreement, confirm,
                           ec.token_f1(traf, truth), meds)

    # trafilatura lost half; it is fine; it is fine and resiliparse lost half (boilerpy3 confirms trafilatura)
    cases = [case("lost", half), case("fine", truth), case("confirmed", truth, half)]
    stops = [p for p in ec.grid() if p.min_agreement > 0.9 and p.confirm_agreement <= 1]
    assert stops and all(ec.outcome(cases[2], p) == (1.0, 3) for p in stops)   # kept after 3 extractors
    for params in [*ec.grid()[::37], *stops[::7]]:
        for c in cases:
            f1, runs = ec.outcome(c, params)
            choice = ec.run_chooser(c, params)
            assert abs(f1 - ec.token_f1(choice.text, truth)) < 1e-9 and runs == len(choice.ran)
    chosen = ec.best(cases, ec.grid())
    assert ec.score(cases, chosen) == 1.0
    assert all(ec.outcome(c, chosen)[1] <= ec.outcome(c, p)[1] for c in cases[1:] for p in ec.grid()
               if ec.score(cases, p) == 1.0)


def test_thinning_keeps_a_share_of_each_bucket_and_the_series_itself_at_one() -> None:
    import numpy as np

    from bench.thinned_nab import thinned

    values = [float(v) for v in np.random.default_rng(3).poisson(40.0, 5000)]
    assert thinned(values, 1.0, 0).tolist() == values
    quarter = thinned(values, 0.25, 0)
    assert (quarter <= np.asarray(values)).all() and (quarter == np.round(quarter)).all()
    assert abs(quarter.sum() / sum(values) - 0.25) < 0.01
    assert thinned(values, 0.25, 0).tolist() == quarter.tolist() != thinned(values, 0.25, 1).tolist()


def test_the_chooser_gain_says_when_it_rests_on_one_page() -> None:
    from balkanwatch import chooser
    from bench import extraction_chooser as ec

    truth = " ".join(f"word{i} about the bridge" for i in range(40))
    half = " ".join(truth.split()[:80])
    signals = chooser.PageSignals(1, 1, 0.0, 1)

    def case(name: str, raw: str) -> ec.PageCase:
        return ec.PageCase(name, truth, signals, {"trafilatura.extract": raw}, {}, 1.0, 1.0, 1.0, {})

    cs = [case("rescued", half)] + [case(f"same{i}", truth) for i in range(9)]
    raw_half = ec.token_f1(half, truth)
    g = ec.gain_over_raw(cs, {c.page_id: 1.0 for c in cs})   # the chooser perfect everywhere
    assert abs(g["mean"] - (1 - raw_half) / 10) < 1e-12 and g["without_top"] == 0.0
    assert g["up"] == 1 and g["down"] == 0 and 0.0 <= g["low"] <= g["mean"] <= g["high"]
    # one page rescued, the nine others a little worse: a positive mean that rests on that page alone
    worse = ec.gain_over_raw(cs, {c.page_id: 1.0 if c.page_id == "rescued" else 0.99 for c in cs})
    assert worse["up"] == 1 and worse["down"] == 0 and abs(worse["without_top"] + 0.01) < 1e-12
    assert abs(worse["mean"] - (1 - raw_half - 0.09) / 10) < 1e-12 and worse["mean"] > 0


def test_shingle_f1_scores_order_case_and_missing_pages_as_the_held_out_benchmark() -> None:
    from bench.extraction import shingle_counts, shingle_f1

    truth = "KFOR troops patrolled the main bridge in Mitrovica on Monday morning"
    assert shingle_counts(truth, truth) == (1.0, 0.0, 0.0)
    assert shingle_counts(truth.lower(), truth)[0] < 1.0                     # case is kept
    shuffled = " ".join(reversed(truth.split()))
    assert shingle_counts(shuffled, truth)[0] == 0.0                          # same words, no common 4-gram
    tp, fp, fn = shingle_counts(truth + " Subscribe to our newsletter for more news", truth)
    assert fn == 0.0 and fp > 0 and abs(tp + fp + fn - 1.0) < 1e-12         # chrome costs precision only
    assert shingle_counts("", truth) == (0.0, 0.0, 1.0)
    # a page without a prediction counts against recall, not precision
    scored = shingle_f1([shingle_counts(truth, truth), shingle_counts("", truth)])
    assert scored["precision"] == 1.0 and scored["recall"] == 0.5 and abs(scored["f1"] - 2 / 3) < 1e-12


def test_the_shingle_gain_is_the_held_out_scorers_figure_with_an_interval() -> None:
    from types import SimpleNamespace

    import numpy as np

    from bench import extraction_chooser as ec
    from bench.extraction import shingle_counts, shingle_f1

    truth = "KFOR troops patrolled the main bridge in Mitrovica on Monday morning after the clash"
    chrome = " Subscribe to our newsletter for the latest news from the region"
    texts = [truth, truth + chrome, "", " ".join(truth.split()[:8]), truth.lower(), chrome]
    counts = [shingle_counts(t, truth) for t in texts]
    # the vectorised scorer is the scorer: every page once gives shingle_f1's F1, a resample its own
    every = np.arange(len(counts))[None, :]
    assert abs(ec._shingle_f1s(ec._shingle_arrays(counts), every)[0] - shingle_f1(counts)["f1"]) < 1e-12
    resample = np.array([[1, 1, 2, 5, 0, 0]])
    assert abs(ec._shingle_f1s(ec._shingle_arrays(counts), resample)[0]
               - shingle_f1([counts[i] for i in resample[0]])["f1"]) < 1e-12
    cs = [SimpleNamespace(page_id=str(i)) for i in range(len(texts))]
    raw = {str(i): c for i, c in enumerate(counts)}
    same = ec.shingle_gain_over_raw(cs, raw, raw)                   # type: ignore[arg-type]
    assert same == {"mean": 0.0, "low": 0.0, "high": 0.0}
    better = ec.shingle_gain_over_raw(cs, {**raw, "1": shingle_counts(truth, truth)}, raw)   # type: ignore[arg-type]
    expected = shingle_f1([*counts[:1], shingle_counts(truth, truth), *counts[2:]])["f1"] - shingle_f1(counts)["f1"]
    assert abs(better["mean"] - expected) < 1e-12 and 0.0 <= better["low"] <= better["mean"] <= better["high"]


def test_the_soak_finds_polls_not_made_by_the_run_nearest_the_due_time() -> None:
    from datetime import datetime, timedelta

    from bench.soak import nearest_run_misses

    t0 = datetime(2026, 12, 6, 8, 0)

    def at(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    runs = {"a": at(0), "b": at(60), "c": at(90), "d": at(150)}
    # due at 62: run b (60) polled it, c (90) is farther: fine; due at 62 polled by c: late (b was nearer)
    on_time = [("s", "a", at(2), True), ("s", "b", at(61), True)]
    late = [("s", "a", at(2), True), ("s", "c", at(91), True)]
    assert nearest_run_misses(on_time, runs, 60) == []
    assert [m["off_by_seconds"] for m in nearest_run_misses(late, runs, 60)] == [26]
    # polled by b at 61, due at 121: the catch-up run c (90) re-polled it although d (150) was as near
    early = [("s", "b", at(61), True), ("s", "c", at(91), True)]
    assert nearest_run_misses(early, runs, 60) == []             # 31 s against 29 s: within the tolerance
    runs["d"] = at(125)
    assert [m["source"] for m in nearest_run_misses(early, runs, 60)] == ["s"]   # d at 125 was nearer by 27 s
    # a failing poll's next time is its backoff, not the interval: not judged
    assert nearest_run_misses([("s", "a", at(2), False), ("s", "c", at(91), True)], runs, 60) == []
