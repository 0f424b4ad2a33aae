"""Lists: official split files, list files, list building, custom splits, video lists and the
annotated datasets (Kinetics, Something-Something V2)."""
