"""Local tooling of the progress service: the `progress-admin` command (migrate, serve, archive, import-json)."""
