"""One thin module per subcommand; each declares options, calls one core function, renders."""

from tsncli.commands import (
    completion,
    convert,
    eval,
    export,
    fetch,
    flow,
    fuse,
    lists,
    predict,
    probe,
    train,
    unpack,
)

# Order shown by `tsn --help`: the pipeline order.
COMMANDS = [
    fetch,
    unpack,
    flow,
    lists,
    train,
    eval,
    fuse,
    predict,
    probe,
    convert,
    export,
    completion,
]
