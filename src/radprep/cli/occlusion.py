"""`radprep occlusion RUN_DIR --model MODEL --out OUT`: the occlusion experiment over a run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from radprep.cli._common import (
    EXIT_FAILURES,
    Fresh,
    Quiet,
    Scheduler,
    Workers,
    check_workers,
    console,
    err_console,
    handle_errors,
)
from radprep.errors import SpecError

if TYPE_CHECKING:
    from radprep.experiments.occlusion import OcclusionResult, OcclusionSettings


def _floats(text: str | None, name: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise SpecError(f"{name} must be numbers separated by commas, got {text!r}") from None


# The model's options, each declared once.
ClassOfInterest = Annotated[
    str | None,
    typer.Option("--class", help="The class of interest: an output index or a class name."),
]
Classes = Annotated[
    str | None, typer.Option("--classes", help="Class names in output order, comma-separated.")
]
Activation = Annotated[
    str, typer.Option("--activation", help="On the outputs first: none, sigmoid or softmax.")
]
InputShape = Annotated[
    str | None,
    typer.Option("--input-shape", help="C,H,W for models that do not declare it (TorchScript)."),
]


@handle_errors
def occlusion(
    run_dir: Path = typer.Argument(..., help="A finished run's folder (holds manifest.parquet)."),
    model: Path = typer.Option(..., "--model", "-m", help="An ONNX or TorchScript classifier."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder of the experiment."),
    class_: ClassOfInterest = None,
    classes: Classes = None,
    activation: Activation = "none",
    mean: str | None = typer.Option(None, "--mean", help="Normalisation mean(s), e.g. 0.485"),
    std: str | None = typer.Option(None, "--std", help="Normalisation std(s), e.g. 0.229"),
    input_shape: InputShape = None,
    patch: int = typer.Option(32, "--patch", help="Sliding occluder side (px)."),
    stride: int = typer.Option(16, "--stride", help="Sliding occluder step (px)."),
    fill: float = typer.Option(0.0, "--fill", help="Occluder value in [0, 1]."),
    batch: int = typer.Option(64, "--batch", help="Occluded copies per inference call."),
    seed: int = typer.Option(0, "--seed", help="Seed of the control box's place."),
    image_output: str = typer.Option("full", "--image-output", help="Output with the images."),
    occluded_output: str = typer.Option(
        "occluded", "--occluded-output", help="Output with the occluded copies."
    ),
    mask_output: str = typer.Option("roi_mask", "--mask-output", help="Output with ROI masks."),
    saliency: bool = typer.Option(
        False, "--saliency", help="Also write gradient saliency maps (TorchScript models)."
    ),
    workers: Workers = None,
    scheduler: Scheduler = None,
    serial: bool = typer.Option(False, "--serial", help="Run in this process."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N samples."),
    fresh: Fresh = False,
    quiet: Quiet = False,
    no_report: bool = typer.Option(False, "--no-report", help="Skip the report page."),
) -> None:
    """Score each sample with and without its ROI, a control box, and sensitivity maps."""
    from radprep.experiments.occlusion import run_occlusion

    check_workers(workers)
    settings = _settings(
        class_, classes, activation, mean, std, input_shape,
        patch=patch, stride=stride, fill=fill, batch=batch, seed=seed, saliency=saliency,
    )  # fmt: skip
    result = run_occlusion(
        run_dir,
        model,
        out,
        settings=settings,
        image_output=image_output,
        occluded_output=occluded_output,
        mask_output=mask_output,
        executor="serial" if serial else "processes",
        workers=workers,
        scheduler=scheduler,
        limit=limit,
        fresh=fresh,
        progress="quiet" if quiet else "auto",
        report=not no_report,
    )
    _report(result)


def _settings(
    class_: str | None, classes: str | None, activation: str, mean: str | None,
    std: str | None, input_shape: str | None, *, patch: int, stride: int, fill: float,
    batch: int, seed: int, saliency: bool,
) -> OcclusionSettings:  # fmt: skip
    """The experiment's settings from the command line (numbers parsed, pairs checked)."""
    from radprep.experiments.occlusion import OcclusionSettings

    means, stds = _floats(mean, "--mean"), _floats(std, "--std")
    if (means is None) != (stds is None):
        raise SpecError("give --mean and --std together")
    shape = _floats(input_shape, "--input-shape")
    if shape is not None and len(shape) != 3:
        raise SpecError(f"--input-shape must be C,H,W, got {input_shape!r}")
    return OcclusionSettings(
        class_of_interest=class_,
        classes=tuple(c.strip() for c in classes.split(",")) if classes else (),
        activation=activation,  # type: ignore[arg-type]  # checked by settings.check()
        normalize=(means, stds) if means is not None and stds is not None else None,
        input_shape=tuple(int(v) for v in shape) if shape else None,  # type: ignore[arg-type]
        patch_px=patch,
        stride_px=stride,
        fill=fill,
        batch_size=batch,
        seed=seed,
        saliency=saliency,
    )


def _report(result: OcclusionResult) -> None:
    """Print what was done and where; exit 1 (listing up to 10) when a sample failed."""
    console.print(
        f"{result.samples} sample(s): {result.done} done ({result.skipped} already done), "
        f"{result.failed} failed, {len(result.not_eligible)} without the needed outputs; "
        f"{result.seconds:.1f} s; per image (median) scores {result.seconds_scores * 1000:.1f} "
        f"ms, sensitivity map {result.seconds_map:.2f} s",
        markup=False,
    )
    console.print(f"table:    {result.table}", markup=False)
    console.print(f"heatmaps: {result.out_dir / 'heatmaps'}", markup=False)
    console.print(f"overlays: {result.out_dir / 'overlays'}", markup=False)
    if result.report is not None:
        console.print(f"report:   {result.report}", markup=False)
    if result.failed:
        for f in result.failures[:10]:
            err_console.print(f"radprep: error: {f['sample_id']}: {f['message']}", markup=False)
        raise typer.Exit(EXIT_FAILURES)
