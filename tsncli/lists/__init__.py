"""Lists: list files, list building from a dataset's official split files (parsed by its spec in
`tsncli.specs.datasets`), custom splits, video lists and the annotated datasets (Kinetics,
Something-Something V2)."""
