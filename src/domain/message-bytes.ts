/**
 * Buffers for message bytes, and giving a large message's memory back as soon as it is copied.
 *
 * A message of at least LARGE_MESSAGE_BYTES gets an ArrayBuffer of its own mapping: a resizable
 * ArrayBuffer (here with maxByteLength = its size) is reserved and committed by V8's page
 * allocator, not malloc. malloc would (after the first free of a large chunk raises glibc's dynamic
 * mmap threshold) serve it from the main heap, which then stays at its high-water mark: 20
 * mailboxes with 30 MB messages measured ~70 MB more RSS that way, one mailbox ~20 MB. V8 counts it
 * as external memory at its real size. (The way before this one, a slice of a malloc'ed 32 MB that
 * glibc always maps, made V8 count 32 MB per message and run a full GC every second large message:
 * 20 instead of 7 per 5,000-message run.)
 *
 * Its own mapping also means it can be handed back at once: shrinking the ArrayBuffer to 0 unmaps
 * it (measured: 10 × 30 MB, RSS 344 → 44 MB), where a collected Buffer waits for the next full GC.
 */

/** Messages from this size up get their own mapping. */
export const LARGE_MESSAGE_BYTES = 1024 * 1024;

/** ES2024's resizable ArrayBuffer (V8 11 / Node 20 has it; TypeScript's ES2022 lib does not). */
interface ResizableArrayBuffer extends ArrayBuffer {
  readonly resizable: boolean;
  resize(byteLength: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (byteLength: number, options: { maxByteLength: number }) => ResizableArrayBuffer;

/** An uninitialised buffer for `size` bytes of a message (or any literal). */
export function allocateMessageBytes(size: number): Buffer {
  if (size < LARGE_MESSAGE_BYTES) return Buffer.allocUnsafe(size);
  return Buffer.from(new ResizableArrayBuffer(size, { maxByteLength: size }), 0, size);
}

/**
 * Unmaps the memory of a buffer from allocateMessageBytes() that nothing will read again; it reads
 * as empty afterwards. Other buffers (small ones, slices, anyone else's) are left to the GC.
 */
export function releaseMessageBytes(bytes: Buffer): void {
  const buffer = bytes.buffer as ResizableArrayBuffer;
  if (buffer.resizable === true && bytes.byteOffset === 0 && bytes.length === buffer.byteLength) buffer.resize(0);
}
