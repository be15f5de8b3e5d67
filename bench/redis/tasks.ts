// The task of the Pool benchmark, for weft workers (--root this directory), the raw BullMQ worker and the local Pool alike.
import { task } from 'weft';

export const square = task(import.meta, (x: number) => x * x);
