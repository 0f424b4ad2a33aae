"""One thin module per subcommand; each declares options, calls one core function, renders.

`SUMMARIES` names every subcommand, in the order `tsn --help` shows them (the pipeline order),
with its one-line summary. The CLI imports a command's module only when that command runs (or
for help), so `tsn flow` does not pay for torch and the model code, and `tsn <TAB>` completes
command names without importing any of them.
"""

SUMMARIES: dict[str, str] = {
    "fetch": "Download datasets and weights (resumable, verified, with mirrors).",
    "unpack": "Safely extract RAR/ZIP archives, HMDB51's RAR of RARs included.",
    "flow": "Extract frames and optical flow (TV-L1, warped TV-L1, Farneback, DIS) in parallel.",
    "pack": "Convert a frames tree between folders of JPEGs and dense_flow's zips, verified.",
    "lists": "Write train/val list files for the official splits or a custom dataset.",
    "train": "Train a TSN model with the paper's recipes on CPU, one GPU, N GPUs or nodes.",
    "eval": "Test a checkpoint with 25 snippets x 10 crops and save a score file.",
    "fuse": "Fuse score files of several modalities with weights and report accuracy.",
    "predict": "Predict the action in a video, window by window (--window) or live (--stream).",
    "explain": "Show where a checkpoint looks: Grad-CAM per segment, as an overlay video or GIF.",
    "features": "Snippet features for temporal localization (BSN, BMN), from TSN checkpoints.",
    "probe": "Check that videos decode: codec, frame counts, rate, keyframes; dump frames as PNG.",
    "convert": "Turn released Caffe, MMAction2 or tsn-pytorch models into tsn checkpoints.",
    "export": (
        "Export a tsn checkpoint (torch.export, TorchScript, ONNX) with normalisation inside."
    ),
    "completion": "Print the shell completion script for bash, zsh or fish.",
}
