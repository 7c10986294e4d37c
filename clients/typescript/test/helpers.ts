// What the live tests share: the server scripts/clients-test started, a
// UUID v7 nobody has, a receiver for webhooks and a proxy that drops answers.
import { randomBytes } from "node:crypto";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { Payrail } from "../src/index.js";

export const BASE_URL = must("PAYRAIL_URL");
/** Every scope. */
export const ADMIN_TOKEN = must("PAYRAIL_TOKEN");
/** `read+pay`: no `issue`, no `admin`. */
export const PAY_TOKEN = must("PAYRAIL_PAY_TOKEN");

function must(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with scripts/clients-test`);
  return value;
}

export const admin = () => new Payrail({ baseUrl: BASE_URL, token: ADMIN_TOKEN });
export const payOnly = () => new Payrail({ baseUrl: BASE_URL, token: PAY_TOKEN });

/** A well-formed UUID v7 that no row has. */
export function unknownV7(): string {
  const b = randomBytes(16);
  b.writeUIntBE(Date.now(), 0, 6);
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface Delivery {
  body: Buffer;
  signature: string;
  eventId: string;
}

/** An HTTP server on loopback that answers 200 to every POST and keeps what it got. */
export async function receiver(): Promise<{ url: string; next: (pred: (d: Delivery) => boolean) => Promise<Delivery>; close: () => void }> {
  const got: Delivery[] = [];
  const waiting: { pred: (d: Delivery) => boolean; resolve: (d: Delivery) => void }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const d = {
        body: Buffer.concat(chunks),
        signature: String(req.headers["payrail-signature"] ?? ""),
        eventId: String(req.headers["payrail-event-id"] ?? ""),
      };
      got.push(d);
      for (const w of waiting.splice(0)) (w.pred(d) ? w.resolve(d) : waiting.push(w));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/payrail`,
    next: (pred) =>
      new Promise((resolve) => {
        const found = got.find(pred);
        if (found) resolve(found);
        else waiting.push({ pred, resolve });
      }),
    close: () => server.close(),
  };
}

/**
 * A TCP proxy to the API that lets the first `drops` connections deliver
 * their request and then closes them as the answer starts to come back: the
 * server has recorded the request, the client never hears so.
 */
export async function droppingProxy(drops: number): Promise<{ url: string; connections: () => number; close: () => void }> {
  const upstream = new URL(BASE_URL);
  let connections = 0;
  const server = net.createServer((client) => {
    const drop = connections++ < drops;
    const up = net.connect(Number(upstream.port), upstream.hostname);
    client.pipe(up);
    up.on("data", (chunk) => {
      if (drop) {
        client.destroy();
        up.destroy();
      } else client.write(chunk);
    });
    up.on("end", () => client.end());
    up.on("error", () => client.destroy());
    client.on("error", () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, connections: () => connections, close: () => server.close() };
}
