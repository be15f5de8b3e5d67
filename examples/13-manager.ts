// Seed: 1. Processes — Manager: ten processes share a dict and a list
//
// A Manager keeps data in a server process, so processes share it and modify it
// at the same time instead of passing copies. Ten children each write
// d[pid] = pid and append their pid to the list, printing the list as they see
// it; the parent prints both at the end. (Python: `with Manager() as manager:`.)
import { type DictProxy, type ListProxy, Manager, Process, currentProcess, isMainModule, task } from 'weft';

/** Python's printing of a list of ints and of a dict: `[1, 2]`, `{1: 1, 2: 2}`. */
const pyList = (l: number[]) => `[${l.join(', ')}]`;
const pyDict = (d: Map<number, number>) => `{${[...d].map(([k, v]) => `${k}: ${v}`).join(', ')}}`;

export const f = task(import.meta, async function f(d: DictProxy<number, number>, l: ListProxy<number>) {
  const pid = currentProcess().pid;
  await d.set(pid, pid);
  await l.append(pid);
  console.log(pyList(await l.toArray()));
});

if (isMainModule(import.meta)) {
  await using manager = await Manager.start();
  const d = await manager.dict<number, number>(); // a dict shared and passed between processes
  const l = await manager.list<number>(); // a list shared and passed between processes
  const pList: Process[] = [];
  for (let i = 0; i < 10; i++) {
    const p = new Process({ target: f, args: [d, l] });
    p.start();
    pList.push(p);
  }
  for (const p of pList) await p.join(); // wait for the results
  console.log(pyDict(await d.toMap()));
  console.log(pyList(await l.toArray()));
}
