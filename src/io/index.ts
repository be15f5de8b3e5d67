/**
 * weft/io: Python's socket, select and selectors modules over the native addon.
 * @module
 */
export {};
