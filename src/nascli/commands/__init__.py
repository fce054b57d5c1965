"""One Hydra app per subcommand; `nas <command>` dispatches here (nascli.cli)."""
