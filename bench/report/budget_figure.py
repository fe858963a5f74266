"""The R-against-budget figure (``r_by_budget.png``): one row per swept (model, attack), the zoo's R
over the swept budgets on the left, the methods' R at the board's own budget on the right, on the
same R scale. Methods are named on the right panel's axis, so their labels never overlap, and one
legend sits below the panels, never over a point."""

from __future__ import annotations

from pathlib import Path

from bench.eval import validity

# one colour per zoo member in every row (the old figure drew each panel with its own colour cycle)
MEMBER_STYLE = {
    "base": dict(color="black", lw=1.6),
    "oracle": dict(color="0.55", lw=1.6, ls="--"),
    "logit_filter": dict(color="tab:green", lw=1.6),
    "subtract": dict(color="tab:blue", lw=1.6),
    "subtract_mid": dict(color="tab:cyan", lw=1.6),
    "locked": dict(color="tab:orange", lw=1.6),
}
OTHER = dict(color="tab:purple", lw=1.6)


def _member(method: str) -> str | None:
    """The zoo member a board row's method is (``none`` is the base), or None for a method."""
    return validity.ZOO.get(method)


def _limits(c: dict, points: dict) -> tuple[float, float]:
    seen = [r for b in c["budgets"] for r in b["values"].values() if r is not None]
    seen += [r for _, r in points.values() if r is not None]
    # R above 1 (an attack past the base) stays in view, with room for the ✓ marks
    return min([-0.3] + [r - 0.1 for r in seen]), max([1.3] + [r + 0.35 for r in seen])


def certification_figure(plt, certs: list[dict], method_r: dict, path: Path) -> str | None:
    """R against budget, a row per (model, attack): a line per zoo member over the swept budgets (✓
    where the budget certifies) and, beside it, each method's R at the board's own budget, the zoo's
    R there drawn as lines of the same colours. ``method_r``: {(model, attack): {method: (budget
    label, R)}}."""
    panels = [c for c in certs if c["budgets"]]
    if not panels:
        return None
    several = len({c["model"] for c in panels}) > 1
    n_methods = max(
        [len([m for m in method_r.get((c["model"], c["attack"]), {}) if _member(m) is None]) for c in panels]
        + [1]
    )
    height = max(2.5, 0.12 * n_methods + 0.9)
    fig, axes = plt.subplots(
        len(panels),
        2,
        figsize=(10.5, height * len(panels) + 1.0),
        squeeze=False,
        width_ratios=[1.5, 1],
        layout="constrained",
    )
    handles: dict[str, object] = {}
    for (ax, side), c in zip(axes, panels):
        labels = [b["label"] for b in c["budgets"]]
        points = method_r.get((c["model"], c["attack"]), {})
        bottom, top = _limits(c, points)
        members = sorted({m for b in c["budgets"] for m, r in b["values"].items() if r is not None})
        for m in members:
            ys = [b["values"].get(m) for b in c["budgets"]]
            (line,) = ax.plot(
                range(len(labels)),
                [float("nan") if y is None else y for y in ys],
                marker="o",
                ms=4,
                **MEMBER_STYLE.get(m, OTHER),
            )
            handles.setdefault(m, line)
        for i, b in enumerate(c["budgets"]):
            if b["certifies"]:
                ax.annotate("✓", (i, top - 0.05), ha="center", va="top", color="green", fontsize=11)
        board = {lab for lab, r in points.values() if r is not None and lab in labels}
        for lab in board:
            handles.setdefault(
                "the board's budget", ax.axvline(labels.index(lab), color="0.3", lw=0.8, ls=":")
            )
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylim(bottom, top)
        ax.set_xlim(-0.4, len(labels) - 0.6)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylabel("R (0 = oracle, 1 = base)", fontsize=8)
        verdict = f"certified at {c['certified']}" if c["certified"] else "cannot certify"
        where = f"{c['model']}: " if several else ""
        ax.set_title(f"{where}{c['attack']} on the zoo ({verdict})", fontsize=9, loc="left")
        _methods_panel(side, points, labels, (bottom, top), handles)
    from matplotlib.lines import Line2D

    # proxies: every member as its left-panel line (with markers), whichever panel drew it first
    order = [m for m in MEMBER_STYLE if m in handles] + [m for m in handles if m not in MEMBER_STYLE]
    proxies = [
        handles[m] if m not in MEMBER_STYLE else Line2D([], [], marker="o", ms=4, **MEMBER_STYLE[m])
        for m in order
    ]
    fig.legend(
        proxies,
        order,
        loc="outside lower center",
        ncols=min(len(order), 7),
        fontsize=8,
        frameon=False,
    )
    fig.suptitle("R against attack budget (mean over seeds; ✓: the budget certifies)", fontsize=10)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path.name


def _methods_panel(ax, points: dict, labels: list[str], ylim: tuple, handles: dict) -> None:
    """Each method's R at the board's budget, one column per method (lowest R first), named on the
    axis; the zoo's rows at that budget as horizontal lines."""
    methods = sorted(
        ((r, m) for m, (lab, r) in points.items() if r is not None and lab in labels and _member(m) is None),
    )
    if not methods:
        ax.text(0.5, 0.5, "no method at a swept budget", ha="center", va="center", fontsize=8)
        ax.set_axis_off()
        return
    for m, (lab, r) in sorted(points.items()):
        member = _member(m)
        if member is not None and r is not None and lab in labels:
            handles.setdefault(member, ax.axhline(r, **(MEMBER_STYLE.get(member, OTHER) | {"lw": 1.0})))
    ax.scatter(range(len(methods)), [r for r, _ in methods], marker="x", color="black", s=22, zorder=3)
    ax.set_xticks(range(len(methods)), [m for _, m in methods], rotation=90, fontsize=7)
    ax.set_xlim(-0.7, len(methods) - 0.3)
    ax.set_ylim(*ylim)
    ax.tick_params(axis="y", labelsize=7)
    ax.axhline(0, color="grey", lw=0.5)
    lab = next(lab for m, (lab, r) in points.items() if r is not None and lab in labels)
    ax.set_title(f"methods at the board's budget ({lab})", fontsize=9, loc="left")
    ax.grid(axis="x", alpha=0.25, lw=0.5)
