// A small graphql-transport-ws client (the protocol Jifen speaks on /graphql), shared by the
// console and the widgets: one socket, subscriptions by id, reconnection with backoff, and every
// subscription sent again after a reconnect (boards and balances answer their state first, so
// nothing is missed). No dependency: the widgets stay small and need no build step.

export function socketUrl(base) {
  const url = new URL("/graphql", base || window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

export class LiveClient {
  constructor(url, connectionParams, { onStatus } = {}) {
    this.url = url;
    this.connectionParams = connectionParams;
    this.onStatus = onStatus || (() => {});
    this.subs = new Map();
    this.nextId = 1;
    this.retry = 0;
    this.closed = false;
    this.socket = null;
    this.acked = false;
    this.open();
  }

  open() {
    if (this.closed) return;
    const socket = new WebSocket(this.url, "graphql-transport-ws");
    this.socket = socket;
    this.acked = false;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "connection_init", payload: this.connectionParams }));
    };
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.acked = false;
      this.onStatus("offline", event.reason || "");
      if (this.closed || event.code === 4403 || event.code === 4401) return;
      // Back off up to 10 s, with jitter, so a restarted server is not stampeded.
      const wait = Math.min(10000, 250 * 2 ** this.retry++) * (0.5 + Math.random() / 2);
      setTimeout(() => this.open(), wait);
    };
  }

  receive(message) {
    if (message.type === "connection_ack") {
      this.acked = true;
      this.retry = 0;
      this.onStatus("live", "");
      for (const [id, sub] of this.subs) this.start(id, sub);
    } else if (message.type === "ping") {
      this.socket.send(JSON.stringify({ type: "pong" }));
    } else if (message.type === "next") {
      const sub = this.subs.get(message.id);
      if (!sub) return;
      if (message.payload.errors) sub.onError(message.payload.errors);
      else sub.onData(message.payload.data);
    } else if (message.type === "error") {
      const sub = this.subs.get(message.id);
      if (sub) sub.onError(message.payload);
    }
  }

  start(id, sub) {
    this.socket.send(
      JSON.stringify({ id, type: "subscribe", payload: { query: sub.query, variables: sub.variables } }),
    );
  }

  subscribe(query, variables, onData, onError = () => {}) {
    const id = String(this.nextId++);
    const sub = { query, variables, onData, onError };
    this.subs.set(id, sub);
    if (this.acked) this.start(id, sub);
    return () => {
      this.subs.delete(id);
      if (this.acked) this.socket.send(JSON.stringify({ id, type: "complete" }));
    };
  }

  close() {
    this.closed = true;
    if (this.socket) this.socket.close(1000);
  }
}
