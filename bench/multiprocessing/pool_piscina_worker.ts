// The tiny task for piscina and tinypool (both call a worker file's default export).
export default function square(x: number): number {
  return x * x;
}
