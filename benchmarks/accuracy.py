"""Where ce-eval, PyTorch and SciPy lose digits, on rows built to hurt. Run by hand:

    .venv/bin/python benchmarks/accuracy.py              # ce-eval and SciPy
    PYTHONPATH=. /path/to/python benchmarks/accuracy.py  # an interpreter that also has torch

Prints two Markdown tables. The first: for each row, the exact value (mpmath at 256 bits, from
``tests/exact_reference.py``) and the relative error of ce-eval, PyTorch (float64 tensors) and
SciPy computing the same number the usual way; "—" where the library has no such function. The
second: ce-eval's worst relative error per quantity over the rows the accuracy tests use
(``tests/test_exactness.py``), on every path (needs mpmath; takes about a minute).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ce_cli.core.persample import evaluate_rows
from ce_cli.core.sample_values import LossSpec

HERE = Path(__file__).resolve().parent


def _reference() -> ModuleType:
    path = HERE.parent / "tests" / "exact_reference.py"
    spec = importlib.util.spec_from_file_location("exact_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _reference()
MC = "multiclass"


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


torch = _optional("torch")
special = _optional("scipy.special")
stats = _optional("scipy.stats")


def _t(x: Any) -> Any:
    return torch.tensor(np.asarray(x, dtype=np.float64))


def _ce(z: list[float], t: int, **spec: Any) -> float:
    got = evaluate_rows(np.array([z]), LossSpec(MC, logits=True, **spec), labels=np.array([t]))
    return float(got.loss[0] if spec else got.cross_entropy[0])


def _row(z: Any, spec: LossSpec, name: str, **kw: Any) -> float:
    arrays = {k: np.asarray(v) for k, v in kw.items()}
    return float(getattr(evaluate_rows(np.asarray(z), spec, **arrays), name)[0])


def _torch_focal(z: list[float], t: int, gamma: float) -> float:
    ce = torch.nn.functional.cross_entropy(_t([z]), torch.tensor([t]))
    return float((1 - torch.exp(-ce)) ** gamma * ce)  # the usual recipe: p_t = exp(-CE)


Case = tuple[str, Callable[[], float], dict[str, Callable[[], float] | None]]
Z40 = [40.0, 0.0, 0.0]
BIN = LossSpec("binary", logits=False)
BIN_Z = LossSpec("binary", logits=True)
F = torch.nn.functional if torch is not None else None


def cases() -> list[Case]:
    ref = REF
    q_near = [0.3 + 1e-10, 0.7 - 1e-10]
    return [
        (
            "cross-entropy, logits [40, 0, 0], label 0",
            lambda: ref.categorical_reference(Z40, True, 0)["cross_entropy"],
            {
                "ce-eval": lambda: _ce(Z40, 0),
                "torch": lambda: float(F.cross_entropy(_t([Z40]), torch.tensor([0]))),
                "scipy": lambda: float(-special.log_softmax(Z40)[0]),
            },
        ),
        (
            "cross-entropy, same row, soft target [1, 0, 0]",
            lambda: ref.categorical_reference(Z40, True, None, [1.0, 0.0, 0.0])["cross_entropy"],
            {
                "ce-eval": lambda: _row(
                    [Z40], LossSpec(MC, logits=True), "cross_entropy", targets=np.eye(3)[:1]
                ),
                "torch": lambda: float(F.cross_entropy(_t([Z40]), _t([[1.0, 0.0, 0.0]]))),
                "scipy": lambda: float(-(np.eye(3)[0] * special.log_softmax(Z40)).sum()),
            },
        ),
        (
            "entropy, logits [40, 0, 0]",
            lambda: ref.categorical_reference(Z40, True, 0)["entropy"],
            {
                "ce-eval": lambda: _row([Z40], LossSpec(MC, logits=True), "entropy", labels=[0]),
                "torch": lambda: float(torch.distributions.Categorical(logits=_t(Z40)).entropy()),
                "scipy": lambda: float(stats.entropy(special.softmax(Z40))),
            },
        ),
        (
            "focal loss γ = 5, logits [37, 0], label 0",
            lambda: ref.categorical_reference([37.0, 0.0], True, 0, gamma=5.0)["loss"],
            {
                "ce-eval": lambda: _ce([37.0, 0.0], 0, loss="focal", gamma=5.0),
                "torch": lambda: _torch_focal([37.0, 0.0], 0, 5.0),
                "scipy": None,
            },
        ),
        (
            "binary cross-entropy, q = 1e-15, y = 0",
            lambda: ref.bernoulli_reference(1e-15, False, 0.0)["cross_entropy"],
            {
                "ce-eval": lambda: _row([1e-15], BIN, "cross_entropy", labels=[0]),
                "torch": lambda: float(F.binary_cross_entropy(_t([1e-15]), _t([0.0]))),
                "scipy": None,
            },
        ),
        (
            "Bernoulli entropy, q = 1e-300",
            lambda: ref.bernoulli_reference(1e-300, False, 0.0)["entropy"],
            {
                "ce-eval": lambda: _row([1e-300], BIN, "entropy", labels=[0]),
                "torch": lambda: float(torch.distributions.Bernoulli(probs=_t(1e-300)).entropy()),
                "scipy": lambda: float(stats.entropy([1e-300, 1.0 - 1e-300])),
            },
        ),
        (
            "Brier score, logit 40, y = 1",
            lambda: ref.bernoulli_reference(40.0, True, 1.0)["brier"],
            {
                "ce-eval": lambda: _row([40.0], BIN_Z, "brier", labels=[1]),
                "torch": lambda: float((torch.sigmoid(_t(40.0)) - 1.0) ** 2),
                "scipy": lambda: float((special.expit(40.0) - 1.0) ** 2),
            },
        ),
        (
            "KL divergence, q within 1e-10 of p = [0.3, 0.7]",
            lambda: ref.categorical_reference(q_near, False, None, [0.3, 0.7])["kl_divergence"],
            {
                "ce-eval": lambda: _row(
                    [q_near], LossSpec(MC, logits=False), "kl_divergence", targets=[[0.3, 0.7]]
                ),
                "torch": lambda: float(
                    F.kl_div(torch.log(_t(q_near)), _t([0.3, 0.7]), reduction="sum")
                ),
                "scipy": lambda: float(stats.entropy([0.3, 0.7], q_near)),
            },
        ),
    ]


def relative_error(got: float, exact: float) -> str:
    if exact == 0.0:
        return "0" if got == 0.0 else f"{got:.1e} (abs.)"
    error = abs(got - exact) / abs(exact)
    if error == 0.0:
        return "0"
    return f"{error:.1e}" if error < 0.995 else f"{error * 100:.0f} % (gives {got:.3g})"


def anchor_table() -> None:
    libs = {"ce-eval": True, "torch": torch is not None, "scipy": special is not None}
    print("| row | exact | ce-eval | PyTorch | SciPy |")
    print("| --- | --- | --- | --- | --- |")
    for name, exact_fn, fns in cases():
        exact = exact_fn()
        cells = []
        for lib, available in libs.items():
            fn = fns.get(lib)
            cells.append(relative_error(fn(), exact) if available and fn is not None else "—")
        print(f"| {name} | {exact:.4g} | " + " | ".join(cells) + " |")
    versions = [f"numpy {np.__version__}"]
    if torch is not None:
        versions.append(f"torch {torch.__version__}")
    if special is not None:
        import scipy

        versions.append(f"scipy {scipy.__version__}")
    print(f"\n({', '.join(versions)})")


def _worst(
    into: dict[str, float], got: Any, want: dict[str, float], names: tuple[str, ...]
) -> None:
    for name in names:
        exact, value = want[name], float(getattr(got, name)[0])
        if abs(exact) < 1e-300:  # subnormal results carry few digits in any arithmetic
            continue
        into[name] = max(into.get(name, 0.0), abs(value - exact) / abs(exact))


def worst_table() -> None:
    """ce-eval's worst relative error per quantity over the test rows, every path."""
    names = ("loss", "cross_entropy", "entropy", "kl_divergence", "brier", "true_prob")
    names = (*names, "confidence")
    worst: dict[str, float] = {}
    variants: list[dict[str, Any]] = [
        {},
        {"loss": "focal", "gamma": 0.5},
        {"loss": "focal", "gamma": 5.0},
        {"smoothing": 0.1, "weights": True},
    ]
    for options in variants:
        opts = {k: v for k, v in options.items() if k != "weights"}
        for block in REF.multiclass_logit_blocks():
            c = block.shape[1]
            if c > 2_000 and options:
                continue
            w = np.linspace(0.25, 3.0, c) if options.get("weights") else None
            for dtype in (np.float64, np.float32):
                z = block.astype(dtype)
                if not np.all(np.isfinite(z)):
                    continue
                spec = LossSpec(MC, logits=True, class_weights=w, **opts)
                for i in range(z.shape[0]):
                    t = i % c
                    got = evaluate_rows(z[i : i + 1], spec, labels=np.array([t]))
                    want = REF.categorical_reference(
                        z[i].astype(float).tolist(),
                        True,
                        t,
                        gamma=spec.focal_gamma,
                        smoothing=spec.smoothing,
                        weights=None if w is None else w.tolist(),
                    )
                    _worst(worst, got, want, names)
        q = np.array(REF.PROBABILITY_ROWS_3)
        w = np.linspace(0.25, 3.0, 3) if options.get("weights") else None
        spec = LossSpec(MC, logits=False, class_weights=w, **opts)
        for i in range(q.shape[0]):
            for t in range(3):
                got = evaluate_rows(q[i : i + 1], spec, labels=np.array([t]))
                want = REF.categorical_reference(
                    q[i].tolist(),
                    False,
                    t,
                    gamma=spec.focal_gamma,
                    smoothing=spec.smoothing,
                    weights=None if w is None else w.tolist(),
                )
                _worst(worst, got, want, names)
        for logits, values in ((True, REF.BINARY_LOGITS), (False, REF.BINARY_PROBABILITIES)):
            weighted = bool(options.get("weights"))
            bw = (0.25, 3.0) if weighted else (1.0, 1.0)
            spec = LossSpec(
                "binary", logits=logits, class_weights=np.array(bw) if weighted else None, **opts
            )
            for v in values:
                for y in (0.0, 1.0, 0.3):
                    hard = y in (0.0, 1.0)
                    got = evaluate_rows(
                        np.array([v]),
                        spec,
                        labels=np.array([int(y)]) if hard else None,
                        targets=None if hard else np.array([y]),
                    )
                    want = REF.bernoulli_reference(
                        v,
                        logits,
                        y,
                        gamma=spec.focal_gamma,
                        smoothing=spec.smoothing,
                        w_neg=bw[0],
                        w_pos=bw[1],
                    )
                    _worst(worst, got, want, names)
    print("| quantity | worst relative error |")
    print("| --- | --- |")
    for name in names:
        print(f"| {name} | {worst.get(name, 0.0):.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-worst", action="store_true", help="only the anchors' table")
    args = parser.parse_args()
    anchor_table()
    if not args.no_worst:
        print()
        worst_table()


if __name__ == "__main__":
    main()
