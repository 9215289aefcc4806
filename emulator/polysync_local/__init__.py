"""Local tooling (never deployed): emulator processes, the one-command local stack and the operator CLI."""
