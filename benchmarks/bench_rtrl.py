"""RTRL against BPTT for a vanilla RNN of growing hidden size: same gradient, very different cost.

    python benchmarks/bench_rtrl.py                 # H = 4 … 64
    python benchmarks/bench_rtrl.py --hidden 8 16 32 64 96 --steps 50

Prints, per hidden size H: the number P of recurrent parameters, the best
wall time of one forward pass plus gradient for each method, the multiply-adds
per step counted from the formulas (BPTT ~ H², RTRL ~ H·P ~ H⁴) and the
floats each keeps for the gradient (BPTT: T·H states; RTRL: H·P sensitivities,
independent of T).  Before timing, it checks that the two gradients agree.
"""

import argparse

import numpy as np

from tinygrad_seq.bptt import rnn, rtrl


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[4, 8, 16, 32, 64], help="hidden sizes H")
    parser.add_argument("--steps", type=int, default=20, help="sequence length T")
    parser.add_argument("--batch", type=int, default=1, help="sequences N")
    parser.add_argument("--repeats", type=int, default=3, help="timing: best of this many runs")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    D, C, H = 8, 8, min(args.hidden)
    p = dict(U=rng.standard_normal((D, H)), W=rng.standard_normal((H, H)) / np.sqrt(H), b=np.zeros(H),
             V=rng.standard_normal((H, C)), c=np.zeros(C))
    x, y = rng.standard_normal((args.steps, args.batch, D)), rng.integers(0, C, (args.steps, args.batch))
    _, forward_mode = rtrl.rnn_rtrl(x, y, p)
    reverse_mode = rnn.rnn_backward(rnn.rnn_forward(x, y, p)).params
    worst = max(np.linalg.norm(forward_mode[k] - reverse_mode[k]) / np.linalg.norm(reverse_mode[k]) for k in p)
    print(f"RTRL and BPTT gradients agree to {worst:.1e} (relative, H={H}, T={args.steps})\n")

    print(rtrl.measure_cost(tuple(args.hidden), T=args.steps, N=args.batch, D=D, C=C, repeats=args.repeats))


if __name__ == "__main__":
    main()
