"""Render docs/benchmarks.md, its figures and the README's results table from benchmarks/results/*.json.

python benchmarks/report.py
"""

import json
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs"
IMAGES = DOCS / "images"
README = ROOT / "README.md"
ORDER = [
    "euler",
    "tweedie",
    "cosine",
    "power",
    "confidence",
    "spread",
    "spread_2d",
    "jys",
    "metric_search",
    "lsd",
    "lsd_plus",
    "lsd_plus_random",
    "lsd_paper",
    "lsd_plus_paper",
]
COLORS = {
    "euler": "C0",
    "cosine": "C4",
    "power": "C1",
    "confidence": "C6",
    "spread": "C8",
    "spread_2d": "olive",
    "jys": "C2",
    "metric_search": "black",
    "lsd": "C5",
    "lsd_plus": "C3",
    "lsd_plus_random": "salmon",
    "lsd_paper": "C7",
    "lsd_plus_paper": "C9",
}
STYLE = {name: {"color": color} for name, color in COLORS.items()}
STYLE["lsd_plus"]["linewidth"] = 2.5
STYLE["metric_search"]["linestyle"] = "-."
# the rows a learned sampler must beat: every other sampler at the same M (the teacher aside)
LEARNED = "lsd_plus"


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def rows_by_nfe(record: dict) -> dict[int, list[dict]]:
    table: dict[int, list[dict]] = {}
    for row in record["rows"]:
        table.setdefault(row["nfe"], []).append(row)
    for rows in table.values():
        rows.sort(key=lambda row: ORDER.index(row["sampler"]) if row["sampler"] in ORDER else len(ORDER))
    return dict(sorted(table.items()))


def row_of(rows: list[dict], sampler: str) -> dict | None:
    return next((row for row in rows if row["sampler"] == sampler), None)


def gap_closed(rows: list[dict], teacher: dict, metric: str) -> float:
    # closed(M) = (metric(euler, M) - metric(lsd_plus, M)) / (metric(euler, M) - metric(teacher, N))
    euler, learned = row_of(rows, "euler")["metrics"][metric], row_of(rows, "lsd_plus")["metrics"][metric]
    return (euler - learned) / (euler - teacher["metrics"][metric])


INTERVAL_DIGITS = {"gen_ppl": 0, "fd_teacher": 4}  # metrics whose rows may carry a 95% interval


def interval_columns(rows: list[dict]) -> list[str]:
    """The metrics of `INTERVAL_DIGITS` that some row carries an interval for."""
    return [metric for metric in INTERVAL_DIGITS if any(f"{metric}_interval" in row for row in rows)]


def interval_cells(row: dict, columns: list[str]) -> str:
    """A row's `<metric> 95%` cells for `columns`, each with its leading separator (empty where it has none)."""
    cells = ""
    for metric in columns:
        low_high, digits = row.get(f"{metric}_interval"), INTERVAL_DIGITS[metric]
        cells += f" | {low_high[0]:.{digits}f}-{low_high[1]:.{digits}f}" if low_high else " |"
    return cells


def metric_cells(row: dict, metrics: list[str]) -> str:
    """A row's values of `metrics`, empty where it has none (rows measured before a metric was added)."""
    return " | ".join(f"{row['metrics'][m]:.4f}" if m in row["metrics"] else "" for m in metrics)


def paired_cell(row: dict) -> str:
    """A row's fd_teacher minus that of the row it was paired with, and the paired 95% interval."""
    paired = row.get("fd_teacher_paired")
    if not paired:
        return " |"
    low, high = paired["interval"]
    return f" | {paired['difference']:+.4f} ({low:+.4f} to {high:+.4f})"


def table(record: dict, metrics: list[str]) -> str:
    """All rows of a results file; a `<metric> 95%` column for gen_ppl and fd_teacher where rows carry intervals, and
    one for the paired fd_teacher difference where rows carry it (`text.py --paired_against`)."""
    teacher = record["teacher"]
    rows = [row for rows in rows_by_nfe(record).values() for row in rows]
    columns = interval_columns([teacher, *rows])
    against = sorted({row["fd_teacher_paired"]["against"] for row in rows if "fd_teacher_paired" in row})
    headers = [*metrics, *(f"{metric} 95%" for metric in columns)]
    headers += [f"fd_teacher minus {' / '.join(against)} (paired 95%)"] if against else []
    lines = [
        "| M | sampler | " + " | ".join(headers) + " | distill s |",
        "| ---: | --- | " + " | ".join("---:" for _ in headers) + " | ---: |",
        f"| {teacher['nfe']} | teacher ({teacher['sampler']}) | "
        + metric_cells(teacher, metrics)
        + interval_cells(teacher, columns)
        + (" |" if against else "")
        + " | |",
    ]
    for row in rows:
        values = metric_cells(row, metrics) + interval_cells(row, columns) + (paired_cell(row) if against else "")
        lines.append(f"| {row['nfe']} | {row_name(row)} | {values} | {row.get('distill_seconds', '')} |")
    return "\n".join(lines)


def row_name(row: dict) -> str:
    """A row's sampler with what it was run with: the power's gamma, a spread row's schedule, a learned order."""
    if "gamma" in row:
        return f"{row['sampler']} (gamma={row['gamma']})"
    if "schedule" in row:
        return f"{row['sampler']} ({row['schedule']})"
    order = row.get("unmasking_order")
    if order and order != "random" and row["sampler"].split()[0] not in ("confidence", "spread", "spread_2d"):
        return f"{row['sampler']} ({order} order)"
    return row["sampler"]


def beats_every_row(rows: list[dict], metric: str) -> str:
    """Whether lsd_plus beats every other row at its M (lower is better): "yes", the rows it ties, or those ahead;
    where rows carry 95% intervals of the metric, also which of those ahead are apart from lsd_plus's interval. When
    some rows lack the metric (added to a file after them), there is no verdict."""
    learned_row = row_of(rows, LEARNED)
    learned = learned_row["metrics"][metric]
    others = [row for row in rows if row["sampler"] != LEARNED]
    if any(metric not in row["metrics"] for row in others):
        return "not measured on every row"
    ahead = [row for row in others if row["metrics"][metric] < learned * (1 - 1e-9)]
    tied = [row_name(row) for row in others if abs(row["metrics"][metric] - learned) <= 1e-9 * abs(learned)]
    if not ahead:
        return "ties " + ", ".join(tied) if tied else "yes"
    verdict = "**no**: " + ", ".join(row_name(row) for row in ahead)
    paired = [row.get(f"{metric}_paired") for row in ahead]
    if all(pair and pair["against"] == LEARNED for pair in paired):  # the paired difference's own interval
        apart = [row_name(row) for row, pair in zip(ahead, paired) if pair["interval"][1] < 0]
        return verdict + (
            f" (paired intervals apart: {', '.join(apart)})" if apart else " (all within the paired 95% intervals)"
        )
    key = f"{metric}_interval"
    if key in learned_row and all(key in row for row in ahead):
        apart = [row_name(row) for row in ahead if row[key][1] < learned_row[key][0]]
        verdict += f" (intervals apart: {', '.join(apart)})" if apart else " (all within the 95% intervals)"
    return verdict


def ceiling_note(rows: list[dict], metric: str) -> str:
    """lsd_plus_random against the metric_search ceiling: how far above it, in percent."""
    random_order, ceiling = row_of(rows, "lsd_plus_random"), row_of(rows, "metric_search")
    if not random_order or not ceiling:
        return ""
    excess = random_order["metrics"][metric] / ceiling["metrics"][metric] - 1
    return f"{100 * excess:+.1f}%"


def quality_plot(record: dict, metric: str, path: Path, ylabel: str) -> None:
    by_sampler: dict[str, list[tuple[int, float]]] = {}
    for row in record["rows"]:
        by_sampler.setdefault(row["sampler"], []).append((row["nfe"], row["metrics"][metric]))
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for sampler in ORDER:
        if sampler in by_sampler and sampler != "tweedie":
            points = sorted(by_sampler[sampler])
            axis.plot(*zip(*points), marker="o", label=sampler, **STYLE.get(sampler, {}))
    teacher = record["teacher"]
    axis.axhline(teacher["metrics"][metric], color="black", linestyle="--", label=f"teacher (N={teacher['nfe']})")
    axis.set_xscale("log", base=2)
    axis.set(yscale="log", xlabel="NFE (model calls)", ylabel=ylabel, title=record["task"])
    axis.set_xticks(
        sorted({row["nfe"] for row in record["rows"]}), labels=sorted({row["nfe"] for row in record["rows"]})
    )
    axis.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def schedule_plot(record: dict, path: Path) -> None:
    table_rows = rows_by_nfe(record)
    figure, axes = plt.subplots(1, len(table_rows), figsize=(3.2 * len(table_rows), 3.2), sharey=True)
    for axis, (nfe, rows) in zip(axes if len(table_rows) > 1 else [axes], table_rows.items()):
        steps = list(range(nfe + 1))
        axis.plot(steps, [1 - k / nfe for k in steps], color="gray", linestyle=":", label="linear")
        power = row_of(rows, "power")
        if power:
            axis.plot(
                steps,
                [(1 - k / nfe) ** power["gamma"] for k in steps],
                label=f"power {power['gamma']}",
                **STYLE["power"],
            )
        for sampler in ("jys", "metric_search", "lsd_plus", "lsd_plus_random", "lsd_plus_paper"):
            row = row_of(rows, sampler)
            if row and row.get("timesteps"):
                axis.plot(steps, row["timesteps"], marker=".", label=row_name(row), **STYLE.get(sampler, {}))
        axis.set(title=f"M = {nfe}", xlabel="step k")
    (axes[0] if len(table_rows) > 1 else axes).set_ylabel("time tau_k")
    (axes[-1] if len(table_rows) > 1 else axes).legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


ROWS_NOTE = (
    "`lsd_plus` is LSD+ with the unmasking order chosen by distillation (named in the row), `lsd_plus_random` the "
    "same with random order (comparable with the paper), `metric_search` a random-order schedule searched on the "
    "evaluation metric itself on seeds disjoint from evaluation (the ceiling of random-order schedules)."
)


def countdown_section(record: dict) -> str:
    IMAGES.mkdir(parents=True, exist_ok=True)
    prefix = "countdown" if record["task"] == "countdown-oracle" else record["task"].replace("-", "_")
    quality_plot(record, "violation_rate", IMAGES / f"{prefix}_violation_vs_nfe.png", "violation rate (per token)")
    schedule_plot(record, IMAGES / f"{prefix}_schedules.png")
    teacher = record["teacher"]
    checks = []
    for nfe, rows in rows_by_nfe(record).items():
        learned = row_of(rows, LEARNED)
        if learned is None:
            continue
        kl_ok = learned["metrics"]["unigram_kl"] <= teacher["metrics"]["unigram_kl"] + 0.002
        checks.append(
            f"| {nfe} | {row_name(learned)} | {learned['metrics']['violation_rate']:.4f} | "
            f"{100 * gap_closed(rows, teacher, 'violation_rate'):.0f}% | "
            f"{'yes' if learned['metrics']['violation_rate'] <= teacher['metrics']['violation_rate'] else 'no'} | "
            f"{'yes' if kl_ok else '**no**'} | {beats_every_row(rows, 'violation_rate')} | "
            f"{ceiling_note(rows, 'violation_rate')} | {learned.get('distill_seconds')} |"
        )
    exact = record["task"] == "countdown-oracle"
    title = "Countdown with the exact oracle" if exact else "Countdown, trained teacher"
    denoiser_note = (
        "The denoiser is exact, so every error is the sampler's."
        if exact
        else "The denoiser is a transformer trained here (`teachers/countdown`), so the model's own error is present "
        f"too; it runs in {record.get('precision', 'fp32')} (CPU autocast) for the teacher row and every sampler."
    )
    grid = ", ".join(str(gamma) for gamma in record.get("power_grid", [0.1, 0.2, 0.3, 0.5, 0.7]))
    setup = record["distillation"]
    return f"""## {title}

V = 32, L = 256, {setup["samples_per_cell"]} samples per cell on evaluation seeds from
{setup["eval_seed"]} (distillation used seeds below 1000). {denoiser_note} `power` is the best of
tau_k = (1 - k/M)^gamma over gamma in {{{grid}}}, chosen on the evaluation metric itself (the
strongest hand-made baseline); `spread` is the spread order with the best of linear, cosine and that power grid.
{ROWS_NOTE} {distillation_note(record)}{objective_note(record)}

{commands_note(record)}

![violation rate vs NFE](images/{prefix}_violation_vs_nfe.png)

![learned schedules](images/{prefix}_schedules.png)

### Targets

gap closed = (violation(euler, M) - violation(lsd_plus, M)) / (violation(euler, M) - violation(teacher, N));
"lsd_plus_random vs metric_search" is how far the random-order LSD+ sampler lies above the ceiling of random-order
schedules (where a metric_search row exists).

| M | lsd_plus | violation | gap closed | <= teacher | KL <= teacher + 0.002 | beats every other row | \
lsd_plus_random vs metric_search | distill s |
| ---: | --- | ---: | ---: | --- | --- | --- | ---: | ---: |
{chr(10).join(checks)}

### All rows

{table(record, ["violation_rate", "sequence_violation_rate", "unigram_kl"])}
"""


def tiny_section(record: dict) -> str:
    quality_plot(record, "kl", IMAGES / "tiny_exact_kl_vs_nfe.png", "KL(data || sampler), exact")
    schedule_plot(record, IMAGES / "tiny_exact_schedules.png")
    chain = record["chain"]
    checks = []
    for nfe, rows in rows_by_nfe(record).items():
        learned = row_of(rows, LEARNED)
        if learned is None:
            continue
        hand_made = [row for row in rows if row["sampler"] in ("euler", "tweedie", "cosine", "power", "spread")]
        worst = all(learned["metrics"]["kl"] <= row["metrics"]["kl"] for row in hand_made)
        checks.append(
            f"| {nfe} | {row_name(learned)} | {learned['metrics']['kl']:.5f} | {'yes' if worst else '**no**'} | "
            f"{beats_every_row(rows, 'kl')} | {ceiling_note(rows, 'kl')} |"
        )
    return f"""## Tiny exact task

A random Markov chain with V = {chain["num_states"]}, L = {chain["seq_len"]} (seed {chain["seed"]}): the sampler's
whole output distribution over all (V + 1)^L strings is pushed forward exactly (random and spread orders,
`lsd_schedulers.metrics.exact`), so TV and KL(data || sampler) are exact. `power` is the best gamma by KL, `spread`
the spread order with the best of linear, cosine and the power grid. {ROWS_NOTE} Here `metric_search` searches the
exact KL itself.{objective_note(record)}

Command: `{record["command"]}` ({record["machine"]}, {record["date"]}).

![KL vs NFE](images/tiny_exact_kl_vs_nfe.png)

![learned schedules](images/tiny_exact_schedules.png)

### Targets

| M | lsd_plus | exact KL | <= every hand-made row | beats every other row | lsd_plus_random vs metric_search |
| ---: | --- | ---: | --- | --- | ---: |
{chr(10).join(checks)}

### All rows

{table(record, ["tv", "kl"])}
"""


TEXT_METRICS = {
    "gen_ppl": "generative perplexity (SmolLM2)",
    "entropy": "unigram entropy (nats)",
    "mauve": "MAUVE",
    "fd_teacher": "Frechet distance to the teacher's samples",
}


def text_plot(record: dict, metrics: list[str], path: Path) -> None:
    """One panel per metric against NFE, with the teacher and held-out text as horizontal lines."""
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.8), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        by_sampler: dict[str, list[tuple[int, float]]] = {}
        for row in record["rows"]:
            by_sampler.setdefault(row["sampler"], []).append((row["nfe"], row["metrics"][metric]))
        for sampler in ORDER:
            if sampler in by_sampler and sampler != "tweedie":
                axis.plot(*zip(*sorted(by_sampler[sampler])), marker="o", label=sampler, **STYLE.get(sampler, {}))
        teacher = record["teacher"]
        axis.axhline(teacher["metrics"][metric], color="black", linestyle="--", label=f"teacher (N={teacher['nfe']})")
        if "data" in record:
            axis.axhline(record["data"]["metrics"][metric], color="gray", linestyle=":", label="held-out text")
        nfes = sorted({row["nfe"] for row in record["rows"]})
        axis.set_xscale("log", base=2)
        axis.set_xticks(nfes, labels=nfes)
        axis.set(xlabel="NFE (model calls)", title=TEXT_METRICS[metric])
        if metric == "gen_ppl":
            axis.set_yscale("log")
    axes[0][0].legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def distillation_note(record: dict) -> str:
    """One sentence per distinct distillation setting of the rows that record theirs."""
    by_setting: dict[tuple, list[int]] = {}
    for row in record["rows"]:
        setting = row.get("distillation")
        if setting:
            ratio = setting["teacher_steps"] // row["nfe"]
            assignments = setting.get("assignment_samples", 1)
            key = (ratio, setting["train_batch_size"], setting["split_evaluations"], assignments)
            by_setting.setdefault(key, [])
            if row["nfe"] not in by_setting[key]:
                by_setting[key].append(row["nfe"])
    if not by_setting:  # one setting for the whole file, or no distilled rows
        setup = record["distillation"]
        if "train_batch_size" not in setup:
            return "No distilled rows yet."
        note = f"Distillation: N = 8 M Tweedie steps, {setup['train_batch_size']} trajectories per rollout"
        if "split_evaluations" in setup:
            note += f", {setup['split_evaluations']} golden-section evaluations per boundary"
        return note + "."
    parts = [
        f"N = {ratio} M, {batch} trajectories per rollout, {evaluations} golden-section evaluations per boundary"
        + (f", {assignments} sub-step assignments per step" if assignments > 1 else "")
        + f" at M = {', '.join(map(str, sorted(nfes)))}"
        for (ratio, batch, evaluations, assignments), nfes in by_setting.items()
    ]
    return "Distillation: " + "; ".join(parts) + "."


def objective_note(record: dict) -> str:
    """Which searched rows were distilled before the student-first `path_kl` (their search records no objective)."""
    earlier: dict[str, list[int]] = {}
    for row in record["rows"]:
        search = row.get("search") or {}
        if "verified" in search and "objective" not in search:  # path-KL runs record a verification
            earlier.setdefault(row["sampler"], []).append(row["nfe"])
    if not earlier:
        return ""
    rows = "; ".join(f"{name} at M = {', '.join(map(str, sorted(nfes)))}" for name, nfes in earlier.items())
    return f" Distilled with the previous default objective (teacher first, now `forward_path_kl`): {rows}."


def commands_note(record: dict) -> str:
    """The command of the results file, or each command of a file grown with `--append`."""
    if "commands" not in record:
        return f"Command: `{record['command']}` ({record['machine']}, {record['date']})."
    machine = f"({record['machine']}, last run {record['date']})"
    return f"Commands, in order {machine}:\n\n" + "\n".join(f"- `{command}`" for command in record["commands"])


def gap_significance(euler: dict, teacher: dict) -> str:
    """Whether euler's and the teacher's gen_ppl intervals are apart ("" where either lacks one)."""
    if "gen_ppl_interval" not in euler or "gen_ppl_interval" not in teacher:
        return ""
    (euler_low, euler_high), (teacher_low, teacher_high) = euler["gen_ppl_interval"], teacher["gen_ppl_interval"]
    return "apart" if euler_low > teacher_high or teacher_low > euler_high else "**overlap**"


def separation_section(record: dict) -> str:
    """The text cells drawn again with more samples (`text-separation.json`): all rows, intervals, paired distances."""
    setup = record["distillation"]
    return f"""## Text at {setup["samples_per_cell"]} samples per cell

The cells of the text benchmark that decide whether it tells samplers apart, drawn again with more samples (the first
256 of each row are those of the text table). Each row's fd_teacher is also given minus that of one row of the same
run, with a bootstrap interval that resamples both rows and the teacher's reference together (the reference's noise,
shared by both distances, cancels): an interval above 0 means the row is farther from the teacher than the row it is
paired with, even where their own intervals overlap.

{commands_note(record)}

{table(record, [m for m in TEXT_METRICS if m in record["teacher"]["metrics"]])}
"""


def text_section(record: dict) -> str:
    IMAGES.mkdir(parents=True, exist_ok=True)
    metrics = [m for m in TEXT_METRICS if m in record["teacher"]["metrics"]]
    text_plot(record, metrics, IMAGES / "text_vs_nfe.png")
    teacher, setup, evaluation = record["teacher"], record["distillation"], record.get("evaluation", {})
    lines = table(record, metrics).split("\n")
    if "data" in record:
        values = " | ".join(f"{record['data']['metrics'][m]:.4f}" for m in metrics)
        values += interval_cells(record["data"], [m for m in INTERVAL_DIGITS if f"{m} 95%" in lines[0]])
        lines.insert(3, f"| | held-out text | {values} | |")
    closed = record.get("gap_closed", {})
    gap_lines = []
    for nfe, rows in rows_by_nfe(record).items():
        learned = row_of(rows, "lsd_plus")
        if learned is None:
            continue
        cells = [
            f"{100 * closed[m][str(nfe)]:.0f}%" if str(nfe) in closed.get(m, {}) else "" for m in ("gen_ppl", "mauve")
        ]
        entropy = f"{learned['metrics']['entropy']:.3f}" if "entropy" in learned["metrics"] else ""
        euler = row_of(rows, "euler") or {}
        gap_lines.append(f"| {nfe} | {' | '.join(cells)} | {entropy} | {gap_significance(euler, teacher)} |")
    gap = ""
    if gap_lines:
        teacher_entropy = f"{teacher['metrics']['entropy']:.3f}" if "entropy" in teacher["metrics"] else "?"
        gap = f"""### Share of the gap closed by lsd_plus

closed(M) = (metric(euler, M) - metric(lsd_plus, M)) / (metric(euler, M) - metric(teacher, N)); a gen_ppl gain
that comes with an entropy drop below the teacher's ({teacher_entropy}) is bought with diversity, not a win.

The last column asks whether the gap itself is real: do the 95% intervals of euler's and the teacher's gen_ppl
overlap? Where they do, the share closed is noise.

| M | gen_ppl gap closed | MAUVE gap closed | lsd_plus entropy | euler vs teacher gen_ppl |
| ---: | ---: | ---: | ---: | --- |
{chr(10).join(gap_lines)}
"""
    fd_note = ""
    if "fd_teacher" in metrics:
        fd_note = (
            " fd_teacher: the Frechet distance to "
            f"{evaluation['fd_teacher']['reference']} (other seeds) in the same features: the distance to what was "
            "distilled; the teacher row's value is the floor of sampling noise."
        )
    power = ""
    if evaluation.get("power_grid"):
        grid = ", ".join(str(gamma) for gamma in evaluation["power_grid"])
        power = (
            f" `power` is the best of tau_k = (1 - k/M)^gamma over gamma in {{{grid}}} by "
            f"{evaluation.get('power_selected_by', 'gen_ppl')}."
        )
    return f"""## Text, teacher trained here

A masked diffusion LM trained here on offline English corpora (BBC news, Shakespeare, the King James Bible), L =
{setup["seq_len"]} tokens, {setup["samples_per_cell"]} samples per cell on evaluation seeds from {setup["eval_seed"]}
(distillation used seeds below 1000). Teacher: N = {teacher["nfe"]} Tweedie steps. {distillation_note(record)}
{objective_note(record)}
gen_ppl: perplexity of the decoded samples under {evaluation.get("judge", "SmolLM2-135M")}
({evaluation.get("judge_precision", "fp32")}); entropy: mean per-sample unigram entropy of the generated tokens
(closer to the teacher's is better); MAUVE against held-out text blocks of the same length, on all-MiniLM-L6-v2
features (not GPT-2-large, so not comparable with published MAUVE numbers). The held-out row scores real text cut
like the training data.{fd_note}{power}

{commands_note(record)}

![text metrics vs NFE](images/text_vs_nfe.png)

{gap}
### All rows

{chr(10).join(lines)}
"""


def fd_teacher_note(record: dict) -> str:
    """What an image results file's fd_teacher is (the distance to what was distilled), where it has one."""
    if "metrics_note" not in record:
        return ""
    floor = record["teacher"]["metrics"]["fd_teacher"]
    return (
        f"{record['metrics_note']}; the teacher row ({floor:.3f}) is the sampling floor. Rows without it were "
        "measured before it was added."
    )


def image_section(record: dict) -> str:
    quality_plot(record, "fd_classifier", IMAGES / "image_fd_vs_nfe.png", "Frechet distance (classifier features)")
    schedule_plot(record, IMAGES / "image_schedules.png")
    teacher = record["teacher"]
    checks = []
    for nfe, rows in rows_by_nfe(record).items():
        learned = row_of(rows, LEARNED)
        if learned is None:
            continue
        fd = learned["metrics"]["fd_classifier"]
        euler = row_of(rows, "euler")["metrics"]["fd_classifier"]
        closed = (euler - fd) / (euler - teacher["metrics"]["fd_classifier"])
        accuracy = learned["metrics"]["class_accuracy"]
        verdict = "ok" if accuracy >= teacher["metrics"]["class_accuracy"] - 0.02 else "**low**"
        closest = beats_every_row(rows, "fd_teacher") if "fd_teacher" in learned["metrics"] else "not measured"
        checks.append(
            f"| {nfe} | {row_name(learned)} | {fd:.3f} | {beats_every_row(rows, 'fd_classifier')} | "
            f"{100 * closed:.0f}% | {accuracy:.3f} ({verdict}) | {closest} |"
        )
    grids = "\n\n".join(f"![samples at M = {nfe}](images/image-samples-M{nfe}.png)" for nfe in rows_by_nfe(record))
    distillation = record["distillation"]
    return f"""## Fashion-MNIST, VQ tokens (trained teachers)

A class-conditional masked transformer over 7x7 VQ tokens (a `VQModel` trained here), classifier-free guidance
scale {distillation["guidance_scale"]} (each step is one guided call: a conditional and an unconditional pass of the
batch). {distillation["samples_per_cell"]} samples per cell, classes balanced, evaluation seeds from
{distillation["eval_seed"]}. `fd_classifier` is the Frechet distance to the 10,000 test images in the features of a
small classifier trained here (not Inception FID); `class_accuracy` is how often that classifier names the requested
class. `confidence` is MaskGIT's confidence-ordered unmasking on the baseline schedule; `spread` and `spread_2d` are
the 1-D and 2-D (Halton) spread orders with the best of linear, cosine and the power grid. {ROWS_NOTE}
Teacher: N = {teacher["nfe"]} Tweedie steps (FD
{teacher["metrics"]["fd_classifier"]:.3f}, class accuracy {teacher["metrics"]["class_accuracy"]:.3f}).
{fd_teacher_note(record)}{objective_note(record)}

Command: `{record["command"]}` ({record["machine"]}, {record["date"]}).

![Frechet distance vs NFE](images/image_fd_vs_nfe.png)

![learned schedules](images/image_schedules.png)

### Targets

| M | lsd_plus | FD | beats every other row | gap closed | accuracy (vs teacher - 0.02) | lowest fd_teacher |
| ---: | --- | ---: | --- | ---: | --- | --- |
{chr(10).join(checks)}

### All rows

{table(record, ["fd_classifier", "class_accuracy", "fd_teacher"])}

### Samples (one row per sampler, columns are classes 0-9)

{grids}
"""


def antiberty_section(record: dict) -> str:
    quality_plot(record, "fd_teacher", IMAGES / "antiberty_fd_vs_nfe.png", "Frechet distance to the teacher")
    teacher = record["teacher"]
    checks = []
    for nfe, rows in rows_by_nfe(record).items():
        learned = row_of(rows, LEARNED)
        if learned is None:
            continue
        diversity = all(
            abs(learned["metrics"][m] - teacher["metrics"][m]) <= 0.02 * abs(teacher["metrics"][m])
            for m in ("identity", "entropy")
        )
        checks.append(
            f"| {nfe} | {row_name(learned)} | {learned['metrics']['fd_teacher']:.4f} | "
            f"{beats_every_row(rows, 'fd_teacher')} | {learned['metrics']['identity']:.4f} | "
            f"{learned['metrics']['entropy']:.4f} | {'yes' if diversity else '**no**'} | "
            f"{learned.get('distill_seconds')} |"
        )
    sequence, setup = record["sequence"], record["distillation"]
    return f"""## Antibody heavy chains, AntiBERTy (a pretrained model nobody here trained)

{record["model"]}, {record["precision"]}. Each sample is [CLS] + {sequence["residues"]} residues + [SEP], the first
residues fixed to `{sequence["prefix"]}` (a heavy-chain framework start); the samplers generate the other
{sequence["generated"]}. {setup["samples_per_cell"]} samples per cell on evaluation seeds from {setup["eval_seed"]};
teacher N = {teacher["nfe"]} Tweedie steps; distillation with N = {setup["teacher_steps"]},
{setup["train_batch_size"]} trajectories per rollout. `fd_teacher`: Frechet distance between the mean-pooled
last-layer AntiBERTy embeddings of the row's samples and of the teacher's ({record["metrics_note"]}); the teacher
row's value, its own samples on the evaluation seeds, is the floor that sampling noise alone gives; `pseudo_ppl`:
AntiBERTy judging its own samples; `identity` (mean pairwise identity) and `entropy` (per-sample residue entropy) are
diversity, closer to the teacher's is better. {ROWS_NOTE}

Command: `{record["command"]}` ({record["machine"]}, {record["date"]}).

![Frechet distance to the teacher vs NFE](images/antiberty_fd_vs_nfe.png)

### Targets

| M | lsd_plus | fd_teacher | lowest of all rows | identity | entropy | diversity within 2% of teacher | distill s |
| ---: | --- | ---: | --- | ---: | ---: | --- | ---: |
{chr(10).join(checks)}

### All rows

{table(record, ["fd_teacher", "pseudo_ppl", "identity", "entropy"])}
"""


# README's "Results at a glance": (results file, task label, metric, the M shown, digits); lower is better everywhere
GLANCE = [
    ("tiny-exact", "tiny exact (exact KL)", "kl", [4], 4),
    ("countdown-oracle", "countdown, exact oracle (violation rate)", "violation_rate", [8, 16], 4),
    ("image", "Fashion-MNIST VQ tokens (classifier FD)", "fd_classifier", [8, 16], 1),
    ("countdown-trained", "countdown, trained teacher (violation rate)", "violation_rate", [8, 16], 4),
    ("text", "text, text-large teacher (SmolLM2 perplexity{spread})", "gen_ppl", [8, 16], 0),
    ("antiberty", "antibody chains, pretrained AntiBERTy (FD to the teacher{spread})", "fd_teacher", [8, 16], 2),
]
GLANCE_COLUMNS = ["euler", "cosine", "power", "jys", "spread", LEARNED]
GLANCE_BEGIN, GLANCE_END = "<!-- results table: benchmarks/report.py -->", "<!-- end of results table -->"


def glance_value(value: float, digits: int) -> str:
    return f"{value:.1e}" if 0 < abs(value) < 10**-digits else f"{value:.{digits}f}"


def interval_spread(rows: list[dict], metric: str) -> str:
    """The median half-width of the rows' 95% intervals: in percent for perplexity, absolute otherwise."""
    key = f"{metric}_interval"
    halves = sorted(
        (row[key][1] - row[key][0]) / 2 / (row["metrics"][metric] if metric == "gen_ppl" else 1)
        for row in rows
        if key in row
    )
    if not halves:
        return ""
    half = halves[len(halves) // 2]
    return f", +-{100 * half:.0f}%" if metric == "gen_ppl" else f", +-{half:.1f}"


def glance_table() -> str:
    """The README's results table: each task's headline cells, the lowest of the samplers in bold."""
    lines = [
        "| task | M | " + " | ".join(GLANCE_COLUMNS[:4]) + " | spread (best schedule) | lsd_plus | teacher |",
        "| --- | ---: | " + " | ".join("---:" for _ in GLANCE_COLUMNS) + " | ---: |",
    ]
    for name, label, metric, nfes, digits in GLANCE:
        record = load(name)
        if record is None:
            continue
        teacher, by_nfe = record["teacher"], rows_by_nfe(record)
        for nfe in nfes:
            rows = [row_of(by_nfe.get(nfe, []), sampler) for sampler in GLANCE_COLUMNS]
            if any(row is None for row in rows):
                continue
            values = [row["metrics"][metric] for row in rows]
            cells = [glance_value(value, digits) for value in values]
            lowest = min(values) * (1 + 1e-9)
            cells = [f"**{cell}**" if value <= lowest else cell for cell, value in zip(cells, values)]
            cells[-1] += f" ({rows[-1].get('unmasking_order', 'random')})"
            teacher_cell = f"{glance_value(teacher['metrics'][metric], digits)} (N = {teacher['nfe']})"
            task = label.format(spread=interval_spread(rows, metric))
            lines.append(f"| {task} | {nfe} | " + " | ".join(cells) + f" | {teacher_cell} |")
    return "\n".join(lines)


def write_glance_table(readme: Path) -> None:
    """Replace the table between the README's markers."""
    text = readme.read_text()
    begin, end = text.index(GLANCE_BEGIN) + len(GLANCE_BEGIN), text.index(GLANCE_END)
    readme.write_text(text[:begin] + "\n" + glance_table() + "\n" + text[end:])
    print(f"wrote the results table of {readme}")


def main() -> None:
    sections = [
        "# Benchmarks\n\nGenerated by `python benchmarks/report.py` from `benchmarks/results/*.json`; "
        "every number comes from the command shown with its table. The scripts write their results file after "
        "every M and keep each distilled sampler in `benchmarks/results/<task>-distilled/` (not committed): a rerun "
        "of a killed command with the same settings, teacher and package source loads the samplers it finished "
        "instead of distilling them again, and resumes the one it was distilling from its last step (checkpointed "
        "in `<task>-distilled/<sampler>-m<M>.partial/`).\n"
    ]
    for task in ("countdown-oracle", "countdown-trained"):
        if record := load(task):
            sections.append(countdown_section(record))
    tiny = load("tiny-exact")
    if tiny:
        sections.append(tiny_section(tiny))
    if text := load("text"):
        sections.append(text_section(text))
    if separation := load("text-separation"):
        sections.append(separation_section(separation))
    if image := load("image"):
        sections.append(image_section(image))
    if antiberty := load("antiberty"):
        sections.append(antiberty_section(antiberty))
    (DOCS / "benchmarks.md").write_text("\n".join(sections))
    print(f"wrote {DOCS / 'benchmarks.md'}")
    write_glance_table(README)


if __name__ == "__main__":
    main()
