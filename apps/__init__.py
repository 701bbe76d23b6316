"""dlsuite applications: one package per app, plus the shared training machinery
in `apps.common`."""
