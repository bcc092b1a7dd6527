/**
 * Where the other validators are: the peer addresses of the cluster file.
 *
 * Each validator's entry is `host:port`, where the host is an IP literal (`10.0.0.7:7000`,
 * `[fd00::7]:7000`) or a DNS name (`node-2.cretoai.svc:7000`, as a Kubernetes headless service
 * gives each pod of a StatefulSet). A DNS name is resolved again before every dial, never
 * cached here, so that a pod rescheduled to a new IP is found at its next reconnect. A
 * validator without an entry is accept-only: this node never dials it and waits for it to
 * connect (a node behind NAT, or one whose address is not known in advance).
 */

import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { CretoaiError } from '../errors.ts';
import type { NodeId } from './transport.ts';

/** A peer's configured address: a host (IP literal or DNS name) and a TCP port. */
export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/** One address to dial: an IP literal and a port. */
export interface ResolvedAddress {
  readonly ip: string;
  readonly port: number;
  /** 4 or 6. */
  readonly family: number;
}

/** Resolves a DNS name to its addresses, as `dns.promises.lookup(name, { all: true })` does. */
export type LookupFunction = (hostname: string) => Promise<readonly { address: string; family: number }[]>;

/** Every reason resolution gives no address, listed once. */
export const DISCOVERY_ERROR_CODES = Object.freeze([
  // The validator has no address in the cluster file: it is accept-only.
  'no-address',
  // The DNS lookup failed (NXDOMAIN, a timeout, no network).
  'dns-failure',
  // The DNS lookup answered with no usable address.
  'no-records',
] as const);

/** Why a peer has no address to dial now; see {@link DISCOVERY_ERROR_CODES}. */
export type DiscoveryErrorCode = (typeof DISCOVERY_ERROR_CODES)[number];

/** The result of resolving a peer: the addresses to dial, in order, or why there are none. */
export type ResolveResult =
  | { readonly ok: true; readonly addresses: readonly ResolvedAddress[] }
  | { readonly ok: false; readonly code: DiscoveryErrorCode; readonly detail: string };

/** What the transport asks before each dial. */
export interface Discovery {
  /** Whether this node should dial `nodeId` at all (false: accept-only). */
  dials(nodeId: NodeId): boolean;
  /** The addresses of `nodeId` now; called again before every dial. */
  resolve(nodeId: NodeId): Promise<ResolveResult>;
}

/** A cluster file's address that does not parse. */
export class PeerAddressError extends CretoaiError {
  readonly code = 'peer-address';
  /** The text that was refused. */
  readonly text: string;

  constructor(text: string, reason: string) {
    super(`peer address ${JSON.stringify(text)}: ${reason}`);
    this.name = 'PeerAddressError';
    this.text = text;
  }
}

// A DNS name: labels of letters, digits, '-' and '_' (service records use it), dot-separated.
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/**
 * Parses `host:port` (`[v6]:port` for an IPv6 literal).
 *
 * @throws PeerAddressError naming what is wrong: a configuration error, reported at startup.
 */
export function parsePeerAddress(text: string): PeerAddress {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':')
      throw new PeerAddressError(text, 'an IPv6 address is written [address]:port');
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (isIP(host) !== 6) throw new PeerAddressError(text, `${host} is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new PeerAddressError(text, 'expected host:port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) throw new PeerAddressError(text, 'write an IPv6 address as [address]:port');
    if (isIP(host) === 0 && !HOSTNAME.test(host))
      throw new PeerAddressError(text, `${JSON.stringify(host)} is neither an IP address nor a DNS name`);
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw new PeerAddressError(text, 'the port must be a number');
  const port = Number(portText);
  if (port < 1 || port > 65_535) throw new PeerAddressError(text, 'the port must be in [1, 65535]');
  return Object.freeze({ host, port });
}

/** Options of {@link ClusterDiscovery}. */
export interface ClusterDiscoveryOptions {
  /** The DNS resolver. Default: `node:dns/promises` `lookup` (the OS resolver, /etc/hosts included). */
  readonly lookup?: LookupFunction;
}

const systemLookup: LookupFunction = (hostname) => dnsLookup(hostname, { all: true });

/**
 * Peer addresses from the cluster file. Entries may be changed at run time
 * ({@link ClusterDiscovery.setAddress}); the next dial uses the new address.
 */
export class ClusterDiscovery implements Discovery {
  readonly #addresses = new Map<NodeId, PeerAddress>();
  readonly #lookup: LookupFunction;

  /**
   * @param peers - each validator's `host:port` (or a parsed address); validators left out
   *   are accept-only.
   * @throws PeerAddressError for an entry that does not parse.
   */
  constructor(
    peers: Readonly<Record<NodeId, string | PeerAddress>> | ReadonlyMap<NodeId, string | PeerAddress> = {},
    options: ClusterDiscoveryOptions = {},
  ) {
    this.#lookup = options.lookup ?? systemLookup;
    const entries = peers instanceof Map ? [...peers.entries()] : Object.entries(peers);
    for (const [nodeId, address] of entries) this.setAddress(nodeId, address);
  }

  /** Sets (or with null removes) the address of `nodeId`. */
  setAddress(nodeId: NodeId, address: string | PeerAddress | null): void {
    if (address === null) {
      this.#addresses.delete(nodeId);
      return;
    }
    const parsed = typeof address === 'string' ? parsePeerAddress(address) : address;
    if (!Number.isInteger(parsed.port) || parsed.port < 1 || parsed.port > 65_535)
      throw new PeerAddressError(`${parsed.host}:${parsed.port}`, 'the port must be in [1, 65535]');
    this.#addresses.set(nodeId, parsed);
  }

  /** The configured address of `nodeId`, unresolved. */
  addressOf(nodeId: NodeId): PeerAddress | undefined {
    return this.#addresses.get(nodeId);
  }

  dials(nodeId: NodeId): boolean {
    return this.#addresses.has(nodeId);
  }

  async resolve(nodeId: NodeId): Promise<ResolveResult> {
    const address = this.#addresses.get(nodeId);
    if (address === undefined)
      return { ok: false, code: 'no-address', detail: `${nodeId} has no address in the cluster file` };
    const family = isIP(address.host);
    if (family !== 0) return { ok: true, addresses: [{ ip: address.host, port: address.port, family }] };
    let records: readonly { address: string; family: number }[];
    try {
      records = await this.#lookup(address.host);
    } catch (cause) {
      const code = (cause as { code?: unknown } | null)?.code;
      return {
        ok: false,
        code: 'dns-failure',
        detail: `lookup of ${address.host} failed${typeof code === 'string' ? ` (${code})` : ''}`,
      };
    }
    const addresses = records
      .filter((record) => isIP(record.address) !== 0)
      .map((record) => ({ ip: record.address, port: address.port, family: isIP(record.address) }));
    if (addresses.length === 0)
      return { ok: false, code: 'no-records', detail: `${address.host} resolved to no address` };
    return { ok: true, addresses };
  }
}
