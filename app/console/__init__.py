"""The operator console (docs/CONSOLE.md) and the embeddable widgets (docs/WIDGETS.md): the sign-in
endpoints and the static front end, both served by ``jifen serve`` without a build step."""
