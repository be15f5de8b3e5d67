/**
 * Blocks of shared memory: an anonymous memfd mapped into this realm as a
 * SharedArrayBuffer. The twin of CPython's `multiprocessing/shared_memory.py`,
 * without names: a block reaches another process only as an fd passed when it
 * starts (SCM_RIGHTS, so nothing on disk can leak), and another thread as a dup'd fd.
 *
 * Ownership: a block owns one fd. `close()` (or garbage collection of the block)
 * closes it; the mapping lives on while any SharedArrayBuffer view of it does,
 * and the kernel frees the pages when the last fd and mapping are gone — a
 * SIGKILLed process included.
 * @module
 */
import { check } from '../errors.js';
import { native } from '../native.js';
import { ledger } from './ledger.js';

const closer = new FinalizationRegistry<number>((fd) => {
  native.fdClose(fd);
  ledger.forget(fd);
});

/** One shared-memory region and the fd that names it. Internal. */
export class SharedBlock {
  /** The memory, visible to every process and thread that mapped the block. */
  readonly buffer: SharedArrayBuffer;
  #fd: number;

  private constructor(fd: number, buffer: SharedArrayBuffer) {
    this.#fd = fd;
    this.buffer = buffer;
    ledger.remember(fd);
    closer.register(this, fd, this);
  }

  /** A new zero-filled block of `size` bytes (rounded up to whole pages by the kernel). */
  static create(size: number): SharedBlock {
    const fd = check(native.shmCreate(size));
    return SharedBlock.#map(fd);
  }

  /** Maps the block behind `fd` and takes ownership of that fd. */
  static adopt(fd: number): SharedBlock {
    return SharedBlock.#map(fd);
  }

  static #map(fd: number): SharedBlock {
    const buffer = native.shmMap(fd);
    if (typeof buffer === 'number') {
      native.fdClose(fd);
      check(buffer);
    }
    return new SharedBlock(fd, buffer as SharedArrayBuffer);
  }

  /** The fd, for handing the block to a child. Throws once closed. */
  get fd(): number {
    if (this.#fd < 0) throw new Error('shared block is closed');
    return this.#fd;
  }

  /** Closes the fd; views of `buffer` stay valid until they are collected. */
  close(): void {
    if (this.#fd < 0) return;
    closer.unregister(this);
    native.fdClose(this.#fd);
    ledger.forget(this.#fd);
    this.#fd = -1;
  }
}
