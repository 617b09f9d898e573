// GraphiQL at /graphql, from files served by Jifen itself (make vendor; nothing from another host at run time).
// Paste a token into the Headers tab ({"Authorization": "Bearer …"}); a browser signed in to
// the console uses its session instead: the CSRF token that must go with the session's cookie
// is asked for here, as the console does (docs/CONSOLE.md, "Sessions"). `?q=` opens a query.
(async () => {
  const url = new URL("/graphql", window.location.href);
  const socket = new URL(url);
  socket.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let csrfToken = null;
  const session = await fetch("/console/session", { credentials: "same-origin" });
  if (session.ok) csrfToken = (await session.json()).csrfToken;
  const fetcher = GraphiQL.createFetcher({
    url: url.toString(),
    subscriptionUrl: socket.toString(),
    headers: csrfToken ? { "x-csrf-token": csrfToken } : {},
    wsConnectionParams: csrfToken ? { csrfToken } : {},
  });
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher,
      query: new URLSearchParams(window.location.search).get("q") || undefined,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    }),
  );
})();
