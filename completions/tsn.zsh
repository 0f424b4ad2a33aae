#compdef tsn

_tsn_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _TSN_COMPLETE=complete_zsh tsn)
}

compdef _tsn_completion tsn
