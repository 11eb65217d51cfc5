"""Would another span pay? A synthetic-only experiment (session 10, issue #14), not part of `make bench`.

    .venv/bin/python -m bench.spans_experiment ["1,3h;1,3,12h;1,3,6h"]

False alerts per month on the burst-free hourly families, and detection / median delay of 2-hour bursts
(shapes in turn) and of 12-hour ramps, for the shipped spans (1 h, 3 h) against 1, 3, 12 h and 1, 3, 6 h.
The result (docs/design.md, session 10): longer spans catch 12-hour ramps no sooner and no more often, and
alert slightly more on noise, so the shipped spans stay."""
import sys
import time

import numpy as np

from balkanwatch.spikes import SpikeSettings, score_series
from bench.spikes_eval import SETTLED_DAYS, first_alert_delay
from bench.synthetic import MONTH_SECONDS, SHAPES, Profile, bursty, generate, quiet_profiles

VARIANTS = {"1,3h": (3600, 10800), "1,3,12h": (3600, 10800, 43200), "1,3,6h": (3600, 10800, 21600)}
if len(sys.argv) > 1:
    VARIANTS = {k: VARIANTS[k] for k in sys.argv[1].split(";")}

def alerts(values, bucket, spans):
    return [s.alert for s in score_series(values, SpikeSettings(bucket_seconds=bucket, scale_seconds=spans))]

def main() -> None:
    t0 = time.time()
    bucket = 3600
    settled = SETTLED_DAYS * 86400 // bucket
    print("quiet FA/month (hourly, 8 seeds)")
    fams = quiet_profiles(bucket)
    tot = {k: [] for k in VARIANTS}
    for fam, prof in fams.items():
        row = []
        for name, spans in VARIANTS.items():
            n, months = 0, 0.0
            for seed in range(8):
                syn = generate(np.random.default_rng(seed), prof)
                months += (len(syn.values) - settled) * bucket / MONTH_SECONDS
                n += sum(alerts(syn.values, bucket, spans)[settled:])
            row.append(n / months)
            tot[name].append(n / months)
        print(f"{fam:14s}", " ".join(f"{r:5.2f}" for r in row))
    print("mean", {k: round(float(np.mean(v)), 2) for k, v in tot.items()}, "max", {k: round(float(np.max(v)), 2) for k, v in tot.items()})
    for hours in (2.0, 12.0):
        print(f"bursts {hours} h (caught/8, median delay min)")
        for vol in (0.5, 5.0, 50.0, 500.0):
            for size in (1.5, 2.0, 3.0, 5.0):
                cells = []
                for spans in VARIANTS.values():
                    caught, delays = 0, []
                    for seed in range(8):
                        rng = np.random.default_rng(1000 + seed)
                        shape = "ramp" if hours > 2 else SHAPES[seed % 4]
                        syn = bursty(rng, Profile(vol), size, hours, shape)
                        [b] = syn.bursts
                        d = first_alert_delay(alerts(syn.values, bucket, spans), b.start, b.length, bucket)
                        if d is not None:
                            caught += 1
                            delays.append(d)
                    cells.append(f"{caught}/8 {np.median(delays) if delays else float('nan'):5.0f}")
                print(f"  {vol:5g}/h {size:4g}x", " | ".join(cells))
    print(f"{time.time() - t0:.0f} s", list(VARIANTS))


if __name__ == "__main__":
    main()
