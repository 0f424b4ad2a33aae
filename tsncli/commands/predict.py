"""`tsn predict`: the action in a video (whole, window by window or live), flow on the fly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import DecodeThreads, IgnoreRotation, example, finite, output_file
from tsncli.commands._report import console, print_json, print_topk, split_weights
from tsncli.data.crops import get_test_crops, test_crop_choices
from tsncli.errors import UsageError

SUMMARY = SUMMARIES["predict"]


def predict_command(
    videos: Annotated[
        list[str] | None, typer.Argument(help="Video files or frame folders (none with --stream).")
    ] = None,
    checkpoint: Annotated[
        list[Path],
        typer.Option(help="A tsn checkpoint; repeat for RGB + flow fusion (flow is computed)."),
    ] = ...,
    weights: Annotated[
        list[str] | None, typer.Option(help="One weight per checkpoint, e.g. `--weights 1 1.5`.")
    ] = None,
    top_k: Annotated[int, typer.Option(help="How many classes to show.")] = 5,
    segments: Annotated[int, typer.Option(help="Snippets per video, evenly spaced.")] = 25,
    crops: Annotated[
        int | None,
        typer.Option(
            help=f"Crops per snippet: {test_crop_choices()} (default 10; 5 if trained unflipped)."
        ),
    ] = None,
    snippets: Annotated[
        bool, typer.Option("--snippets", help="Also show the top class of every snippet.")
    ] = False,
    window: Annotated[
        float | None,
        typer.Option(
            help="Score windows of this many seconds (each as a clip) over one long video.",
            callback=finite,
        ),
    ] = None,
    stride: Annotated[
        float | None,
        typer.Option(
            help="Seconds between window starts with --window (default: the window; longer "
            "than the window skips the frames between).",
            callback=finite,
        ),
    ] = None,
    timeline: Annotated[
        Path | None,
        typer.Option(
            help="With --window: write a row per window to FILE.json or FILE.csv.",
            callback=output_file,
        ),
    ] = None,
    smooth: Annotated[
        int, typer.Option(help="With --window: average scores over this many windows.")
    ] = 1,
    plot: Annotated[
        Path | None,
        typer.Option(help="With --window: draw the timeline to FILE.png.", callback=output_file),
    ] = None,
    annotate: Annotated[
        Path | None,
        typer.Option(
            help="With --window: write the video with each window's top label drawn on it "
            "(.mp4, .mov or .mkv).",
            callback=output_file,
        ),
    ] = None,
    stream: Annotated[
        str | None,
        typer.Option(
            help="Label windows of a live source as they complete: a camera (0, /dev/video0), "
            "a URL (rtsp://, udp://, http://, tcp://) or - for stdin (--window 2 --stride 1).",
        ),
    ] = None,
    max_seconds: Annotated[
        float | None,
        typer.Option(help="With --stream: stop after this many seconds.", callback=finite),
    ] = None,
    gpu: Annotated[bool, typer.Option("--gpu", help="Run on the first CUDA GPU.")] = False,
    decode_threads: DecodeThreads = None,
    ignore_rotation: IgnoreRotation = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON object to stdout.")
    ] = False,
) -> None:
    """Predict the action in videos (or frame folders) with one or more checkpoints."""
    from tsncli.engine.predict import predict_videos
    from tsncli.logs import print_error
    from tsncli.video.backend import set_decode_threads
    from tsncli.video.files import refuse_url

    set_decode_threads(decode_threads)
    paths, weight_values = split_weights(videos or [], weights)
    if stream is not None:
        from tsncli.commands._stream import predict_stream_command

        file_only = {"--plot": plot is not None, "--annotate": annotate is not None}
        file_only |= {"--smooth": smooth != 1, "--snippets": snippets}
        predict_stream_command(
            stream, paths, checkpoint, weight_values, segments=segments, crops=crops, gpu=gpu,
            ignore_rotation=ignore_rotation, window=window, stride=stride, timeline=timeline,
            max_seconds=max_seconds, top_k=top_k, json_output=json_output, file_only=file_only,
        )  # fmt: skip
        return
    if max_seconds is not None:
        raise UsageError("--max-seconds needs --stream SRC (a live source)")
    if not paths:
        raise UsageError("give at least one video file or frames folder")
    for path in paths:
        refuse_url(path)
    if crops is not None:
        get_test_crops(crops)  # an unregistered count fails before the checkpoint loads
    if top_k < 1:
        raise UsageError("--top-k must be at least 1")
    windowed = {"--timeline": timeline, "--plot": plot, "--annotate": annotate}
    if window is None:
        given = [name for name, value in windowed.items() if value is not None]
        if given or stride is not None or smooth != 1:
            name = given[0] if given else ("--stride" if stride is not None else "--smooth")
            raise UsageError(
                f"{name} needs --window SECONDS (the per-snippet list is now --snippets)"
            )
    device = "cpu"
    if gpu:
        from tsncli.launch import resolve_devices

        device = resolve_devices(1)[0]
    if window is not None:
        _predict_windows(
            paths, checkpoint, weight_values, segments, crops, device, ignore_rotation,
            window, stride, timeline, smooth, plot, annotate, top_k, json_output,
        )  # fmt: skip
        return
    results, failures = [], 0
    predictions = predict_videos(
        paths, checkpoint, weight_values, segments, crops, device, ignore_rotation
    )
    for prediction in predictions:
        if prediction.error is not None:
            failures += 1
            print_error(prediction.error)
            results.append({"video": prediction.video, "error": prediction.error})
            continue
        top = prediction.top(top_k)
        entry = {
            "video": prediction.video,
            "top": [{"index": i, "class": n, "probability": p} for i, n, p in top],
        }
        if snippets:
            entry["snippets"] = prediction.timeline()
        results.append(entry)
        if not json_output:
            print_topk(Path(prediction.video).name, [(n, p) for _, n, p in top])
            if snippets:
                for row in entry["snippets"]:
                    when = f"{row['seconds']:.2f}s" if row["seconds"] is not None else "-"
                    console.print(
                        f"  snippet {row['snippet']:>3}  frame {row['frame']:>6}  {when:>9}  "
                        f"{row['class']}  {row['probability']:.3f}",
                        markup=False,
                        highlight=False,
                    )
    if json_output:
        print_json(
            {
                "videos": results,
                "num_videos": len(results),
                "checkpoints": [str(c) for c in checkpoint],
                "weights": weight_values or [1.0] * len(checkpoint),
            }
        )
    if failures:
        raise typer.Exit(1)


def _predict_windows(
    paths: list[str],
    checkpoints: list[Path],
    weights: list[float] | None,
    segments: int,
    crops: int | None,
    device: str,
    ignore_rotation: bool,
    window: float,
    stride: float | None,
    timeline: Path | None,
    smooth: int,
    plot: Path | None,
    annotate: Path | None,
    top_k: int,
    json_output: bool,
) -> None:
    """`--window`: one video's timeline, summary and the files asked for."""
    from tsncli.commands._progress import ProgressView
    from tsncli.engine.predict import check_window_input, predict_timeline
    from tsncli.engine.timeline import check_timeline_path, summarize
    from tsncli.engine.windows import WindowScorer, check_window

    if len(paths) != 1:
        raise UsageError(f"--window scores one video at a time; got {len(paths)}")
    stride = window if stride is None else stride
    check_window(window, stride)  # before the checkpoints load
    if smooth < 1:
        raise UsageError(f"--smooth must be at least 1 window, got {smooth}")
    if timeline is not None:
        check_timeline_path(timeline)
    if plot is not None:
        from tsncli.engine.timeline_plot import check_plot_path

        check_plot_path(plot)
    if annotate is not None:
        from tsncli.video.encode import check_video_output

        check_video_output(annotate)
        if Path(paths[0]).is_dir():
            raise UsageError(
                f"--annotate needs the video file: {paths[0]} is a frames folder, whose "
                "frames were resized for the network; pass the original video"
            )
    check_window_input(paths[0])
    scorer = WindowScorer.load(checkpoints, weights, segments, crops, device, ignore_rotation)
    with ProgressView() as show:
        result = predict_timeline(paths[0], scorer, window, stride, top_k, smooth, show)
        if timeline is not None:
            from tsncli.engine.timeline import write_timeline

            write_timeline(timeline, result.rows, result.meta(checkpoints))
        if plot is not None:
            from tsncli.engine.timeline_plot import save_timeline_plot

            title = Path(paths[0]).name
            save_timeline_plot(plot, result.rows, result.classes, title, result.probabilities)
        if annotate is not None:
            from tsncli.engine.annotate import annotate_video

            annotate_video(
                paths[0], annotate, result.rows, result.classes, result.fps,
                scorer.ignore_rotation, show,
            )  # fmt: skip
    segments_held = summarize(result.rows)
    if json_output:
        from tsncli.engine.timeline import timeline_json

        document = timeline_json(result.rows, result.meta(checkpoints))
        document["segments"] = [
            {"start": start, "end": end, "class": label} for start, end, label in segments_held
        ]
        print_json(document)
        return
    console.print(
        f"{Path(paths[0]).name}: {len(result.rows)} windows of {window:g}s every {stride:g}s",
        markup=False,
        highlight=False,
    )
    for start, end, label in segments_held:
        console.print(f"  {start:8.2f}s - {end:8.2f}s  {label}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command(
        name="predict",
        help=SUMMARY,
        epilog=example(
            "tsn predict video.avi --checkpoint runs/ucf101_rgb_split1/best.pt",
            "tsn predict a.avi b.mp4 --checkpoint rgb.pt --checkpoint flow.pt --weights 1 1.5 "
            "--snippets --json",
            "tsn predict long.mp4 --checkpoint rgb.pt --window 2 --stride 1 --timeline t.json "
            "--plot t.png --annotate labelled.mp4",
            "tsn predict --stream rtsp://camera.local/live --checkpoint rgb.pt --json "
            "--timeline live.json",
        ),
    )(predict_command)
