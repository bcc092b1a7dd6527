/**
 * The binary body of `POST /v1/vertices` (media type {@link VERTEX_LIST_MEDIA_TYPE}), next to
 * JSON for clients that submit many vertices a second: no base64, no JSON to build or parse.
 *
 * Layout, big-endian: a u32 count, then each vertex as peers exchange it (`writeVertexFields`):
 * u32 payload length, the payload, u16 parent count, the 32-byte parent hashes, u64 validThrough.
 * A validThrough of 0 leaves it to the node, as a JSON vertex without `validThrough` does.
 */
import { readVertexFields, type VertexFields, vertexFieldsBytes, writeVertexFields } from './codec.ts';
import type { DecodeError } from './errors.ts';
import { DecodeFailure, Reader } from './reader.ts';
import { Writer } from './writer.ts';

/** The media type of a binary vertex list. */
export const VERTEX_LIST_MEDIA_TYPE = 'application/vnd.cretoai.vertices';

/** The fewest bytes a vertex takes in a list: an empty payload, no parents. */
const MIN_LISTED_VERTEX_BYTES = 4 + 2 + 8;

/** What a list may hold; more is refused before it is read. */
export interface VertexListLimits {
  readonly countMax: number;
  readonly payloadBytesMax: number;
  readonly parentsMax: number;
}

/** A decoded list, or why the bytes are not one. */
export type VertexListResult =
  | { readonly ok: true; readonly vertices: readonly VertexFields[] }
  | { readonly ok: false; readonly error: DecodeError };

/** The bytes of a vertex list; a vertex's validThrough 0 leaves the choice to the node. */
export function encodeVertexList(vertices: readonly VertexFields[]): Uint8Array {
  let bytes = 4;
  for (const vertex of vertices) bytes += vertexFieldsBytes(vertex);
  const w = new Writer(bytes);
  w.u32(vertices.length);
  for (const vertex of vertices) writeVertexFields(w, vertex);
  return w.finish();
}

/** Reads a vertex list, refusing one that is truncated, has bytes after it, or breaks `limits`. */
export function decodeVertexList(bytes: Uint8Array, limits: VertexListLimits): VertexListResult {
  const r = new Reader(bytes);
  try {
    const count = r.count(r.u32('vertex count'), limits.countMax, MIN_LISTED_VERTEX_BYTES, 'vertices');
    const vertices: VertexFields[] = [];
    for (let i = 0; i < count; i++) {
      vertices.push(readVertexFields(r, limits.payloadBytesMax, limits.parentsMax));
    }
    if (r.remaining !== 0) {
      throw new DecodeFailure('trailing-bytes', `${r.remaining} bytes after ${count} vertices`);
    }
    return { ok: true, vertices };
  } catch (error) {
    if (error instanceof DecodeFailure)
      return { ok: false, error: { code: error.code, detail: error.detail } };
    throw error;
  }
}
