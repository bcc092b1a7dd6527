/**
 * Who may start a handshake with this node, and how many at once: the bound on what a stranger
 * who can reach the consensus port can take before proving anything.
 *
 * Connections are sorted by source IP into two pools. The addresses the validators' cluster
 * entries resolve to (learned as this node dials them) draw on a pool that is reserved for
 * them; every other address draws on the strangers' pool. Within each pool:
 * - pending handshakes are bounded per source address and in all, so that one address cannot
 *   take every slot, and strangers together cannot take the validators' slots;
 * - handshake starts are rate-limited per source address by a token bucket, and strangers
 *   together by one more, so that connecting and closing in a loop costs the node at most a
 *   bounded number of key exchanges per second.
 * A connection over a bound is refused as `busy` before a byte of it is read.
 *
 * Memory is bounded too: per-address buckets are kept for at most
 * {@link AdmissionOptions.addressesTrackedMax} addresses, the least recently seen forgotten
 * first.
 */

import { ArgumentError } from '../errors.ts';
import type { Clock } from '../shell/clock.ts';
import type { HandshakeRefusal } from './handshake-frames.ts';
import type { NodeId } from './transport.ts';

/** The bounds of {@link HandshakeAdmission}; see the module comment. */
export interface AdmissionOptions {
  readonly clock: Clock;
  /** Strangers' handshakes in progress at once, in all. Default 64. */
  readonly strangerPendingMax?: number;
  /** Handshakes in progress at once from one stranger address. Default 4. */
  readonly strangerPendingPerAddressMax?: number;
  /** Handshake starts per second from one stranger address (its burst is twice that). Default 8. */
  readonly strangerStartsPerSecondPerAddress?: number;
  /** Handshake starts per second from all strangers together (burst twice that). Default 200. */
  readonly strangerStartsPerSecond?: number;
  /** Handshakes in progress at once from one validator address. Default 16. */
  readonly validatorPendingPerAddressMax?: number;
  /** Handshake starts per second from one validator address (burst twice that). Default 32. */
  readonly validatorStartsPerSecondPerAddress?: number;
  /** Addresses whose buckets are remembered. Default 4,096. */
  readonly addressesTrackedMax?: number;
}

/** A granted slot: call `release` once the handshake ends, whatever its outcome. */
export interface AdmissionTicket {
  readonly validatorAddress: boolean;
  release(): void;
}

/** A token bucket: `rate` tokens a second, holding at most `burst`. */
class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(burst: number, now: number) {
    this.#tokens = burst;
    this.#at = now;
  }

  take(rate: number, burst: number, now: number): boolean {
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#at) / 1000) * rate);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

interface AddressState {
  pending: number;
  readonly bucket: TokenBucket;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new ArgumentError(`${name} must be positive, got ${value}`);
  return value;
}

/** The IPv4 form of an IPv4-mapped IPv6 address, so that one host has one key. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

export class HandshakeAdmission {
  readonly #clock: Clock;
  readonly #strangerPendingMax: number;
  readonly #strangerPerAddressMax: number;
  readonly #strangerRatePerAddress: number;
  readonly #strangerRate: number;
  readonly #validatorPerAddressMax: number;
  readonly #validatorRatePerAddress: number;
  readonly #trackedMax: number;
  readonly #strangerBucket: TokenBucket;
  readonly #addresses = new Map<string, AddressState>();
  /** The IPs each validator's address resolved to at the last dial. */
  readonly #validatorIps = new Map<NodeId, readonly string[]>();
  readonly #validatorIpSet = new Set<string>();
  #strangerPending = 0;
  #pending = 0;

  constructor(options: AdmissionOptions) {
    this.#clock = options.clock;
    this.#strangerPendingMax = positive('strangerPendingMax', options.strangerPendingMax ?? 64);
    this.#strangerPerAddressMax = positive(
      'strangerPendingPerAddressMax',
      options.strangerPendingPerAddressMax ?? 4,
    );
    this.#strangerRatePerAddress = positive(
      'strangerStartsPerSecondPerAddress',
      options.strangerStartsPerSecondPerAddress ?? 8,
    );
    this.#strangerRate = positive('strangerStartsPerSecond', options.strangerStartsPerSecond ?? 200);
    this.#validatorPerAddressMax = positive(
      'validatorPendingPerAddressMax',
      options.validatorPendingPerAddressMax ?? 16,
    );
    this.#validatorRatePerAddress = positive(
      'validatorStartsPerSecondPerAddress',
      options.validatorStartsPerSecondPerAddress ?? 32,
    );
    this.#trackedMax = positive('addressesTrackedMax', options.addressesTrackedMax ?? 4096);
    this.#strangerBucket = new TokenBucket(2 * this.#strangerRate, this.#clock.now());
  }

  /** Records the IPs `peer`'s cluster entry resolves to now; they draw on the reserved pool. */
  setValidatorAddresses(peer: NodeId, ips: readonly string[]): void {
    this.#validatorIps.set(peer, ips.map(normalizeIp));
    this.#validatorIpSet.clear();
    for (const list of this.#validatorIps.values()) for (const ip of list) this.#validatorIpSet.add(ip);
  }

  /** Whether `ip` is one of the validators' addresses. */
  isValidatorAddress(ip: string): boolean {
    return this.#validatorIpSet.has(normalizeIp(ip));
  }

  /** Strangers' handshakes in progress now. */
  get strangerPending(): number {
    return this.#strangerPending;
  }

  /** Handshakes in progress now, from any address. */
  get pending(): number {
    return this.#pending;
  }

  /** Addresses whose state is remembered now (bounded by `addressesTrackedMax`). */
  get addressesTracked(): number {
    return this.#addresses.size;
  }

  /** A slot for a handshake from `remoteIp`, or why there is none. */
  admit(remoteIp: string | undefined): AdmissionTicket | HandshakeRefusal {
    const ip = normalizeIp(remoteIp ?? 'unknown');
    const validator = this.#validatorIpSet.has(ip);
    const now = this.#clock.now();
    const perAddressMax = validator ? this.#validatorPerAddressMax : this.#strangerPerAddressMax;
    const rate = validator ? this.#validatorRatePerAddress : this.#strangerRatePerAddress;
    const state = this.#stateOf(ip, 2 * rate, now);
    if (state.pending >= perAddressMax)
      return { code: 'busy', detail: `${state.pending} handshakes in progress from ${ip}` };
    if (!validator && this.#strangerPending >= this.#strangerPendingMax)
      return {
        code: 'busy',
        detail: `${this.#strangerPending} handshakes in progress from unlisted addresses`,
      };
    if (!state.bucket.take(rate, 2 * rate, now))
      return { code: 'busy', detail: `more than ${rate} handshakes a second from ${ip}` };
    if (!validator && !this.#strangerBucket.take(this.#strangerRate, 2 * this.#strangerRate, now))
      return {
        code: 'busy',
        detail: `more than ${this.#strangerRate} handshakes a second from unlisted addresses`,
      };
    state.pending++;
    this.#pending++;
    if (!validator) this.#strangerPending++;
    let released = false;
    return {
      validatorAddress: validator,
      release: () => {
        if (released) return;
        released = true;
        state.pending--;
        this.#pending--;
        if (!validator) this.#strangerPending--;
      },
    };
  }

  #stateOf(ip: string, burst: number, now: number): AddressState {
    let state = this.#addresses.get(ip);
    if (state !== undefined) {
      // Most recently seen last, so that the first entry is the one to forget.
      this.#addresses.delete(ip);
      this.#addresses.set(ip, state);
      return state;
    }
    state = { pending: 0, bucket: new TokenBucket(burst, now) };
    this.#addresses.set(ip, state);
    if (this.#addresses.size > this.#trackedMax) {
      for (const [oldIp, old] of this.#addresses) {
        if (this.#addresses.size <= this.#trackedMax) break;
        // An address with handshakes in progress keeps its count, or its bound would reset.
        if (old.pending > 0) continue;
        this.#addresses.delete(oldIp);
      }
    }
    return state;
  }
}
