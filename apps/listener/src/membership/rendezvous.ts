import { createHash } from 'node:crypto';

/** murmur3's 32-bit finalizer: spreads every input bit over the whole word. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A node id as a 32-bit seed (FNV-1a), the same in every process. */
function seedOf(nodeId: string): number {
  let h = 0x811c9dc5;
  // Stryker disable next-line EqualityOperator: one more round (a NaN char code, taken as 0) is another hash, as even and the same everywhere
  for (let i = 0; i < nodeId.length; i++) {
    h ^= nodeId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h >>> 0);
}

/** The fingerprint of a set of node ids (sorted), as published in a node's `view`. */
export function viewFingerprint(sortedIds: readonly string[]): string {
  return createHash('sha1').update(sortedIds.join('\n')).digest('hex');
}

/**
 * Rendezvous (highest random weight) hashing over a set of live listeners:
 * a registration belongs to the member with the highest score for it. Every
 * process computes the same owner from the same member list, without talking
 * to the others, and when a member joins or leaves only the registrations it
 * wins or held change hands (about 1/N of them); nobody else's streams move.
 */
export class Rendezvous {
  /** Member ids, sorted: a member's rank in this list decides its part of a per-instance limit. */
  readonly ids: readonly string[];
  readonly fingerprint: string;
  private readonly seeds: number[];

  constructor(memberIds: Iterable<string>) {
    this.ids = [...new Set(memberIds)].sort();
    this.seeds = this.ids.map(seedOf);
    this.fingerprint = viewFingerprint(this.ids);
  }

  get size(): number {
    return this.ids.length;
  }

  has(nodeId: string): boolean {
    return this.ids.includes(nodeId);
  }

  /** The member that holds `registrationId`; undefined when there is no member. */
  ownerOf(registrationId: number): string | undefined {
    const key = mix32(registrationId >>> 0);
    let best = 0;
    let owner: string | undefined;
    for (let i = 0; i < this.seeds.length; i++) {
      const score = mix32(this.seeds[i] ^ key);
      // ids are sorted, so a tie goes to the same member everywhere
      // Stryker disable next-line EqualityOperator: a tie going to the last member instead is as much the same everywhere
      const higher = score > best;
      if (higher || owner === undefined) {
        best = score;
        owner = this.ids[i];
      }
    }
    return owner;
  }

  /**
   * The part of a cluster-wide `limit` that `nodeId` may use: the limit split
   * evenly, the remainder going one each to the first members by id. The
   * parts of all members add up to the limit exactly; a non-member gets 0.
   */
  shareOf(nodeId: string, limit: number): number {
    const rank = this.ids.indexOf(nodeId);
    if (rank < 0) return 0;
    const n = this.ids.length;
    return Math.floor(limit / n) + (rank < limit % n ? 1 : 0);
  }
}
