// The tiny task for workerpool (a worker registers its methods by name).
import workerpool from 'workerpool';

workerpool.worker({ square: (x: number) => x * x });
