// Forwards every request to the app, adding `Authorization: Bearer <token>`, and changes
// nothing else (Host and Origin pass through as sent). The conformance suite's client cannot
// send a token; this lets it test the protocol of the authenticated endpoint.
//
//   node auth-proxy.mjs <listen-port> <upstream-base-url> <bearer-token>
import http from "node:http";

const [port, upstream, token] = process.argv.slice(2);
const target = new URL(upstream);

http
  .createServer((request, response) => {
    const headers = { ...request.headers, authorization: `Bearer ${token}` };
    const forward = http.request(
      { host: target.hostname, port: target.port, method: request.method, path: request.url, headers },
      (answer) => {
        response.writeHead(answer.statusCode, answer.headers);
        answer.pipe(response);
      },
    );
    forward.on("error", (error) => {
      response.writeHead(502, { "content-type": "text/plain" });
      response.end(`auth proxy: ${error.message}`);
    });
    request.pipe(forward);
  })
  .listen(Number(port), "127.0.0.1", () => console.log(`auth proxy on 127.0.0.1:${port} -> ${upstream}`));
