// Subscribes to memberEvents with the reference graphql-ws client and prints each event as one
// JSON line; exits 0 after `count` events (or 1 on an error, printed to stderr).
// usage: node subscribe.mjs <ws url> <token> <member id> <count>
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, memberId, countArg] = process.argv.slice(2);
const count = Number(countArg);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});
let seen = 0;
client.subscribe(
  {
    query: `subscription($m: ID!) {
      memberEvents(memberId: $m) { id type balance { available } } }`,
    variables: { m: memberId },
  },
  {
    next: (result) => {
      if (result.errors) {
        console.error(JSON.stringify(result.errors));
        process.exit(1);
      }
      console.log(JSON.stringify(result.data.memberEvents));
      seen += 1;
      if (seen >= count) {
        client.dispose();
        process.exit(0);
      }
    },
    error: (error) => {
      console.error(String(error?.message ?? JSON.stringify(error)));
      process.exit(1);
    },
    complete: () => process.exit(seen >= count ? 0 : 1),
  },
);
