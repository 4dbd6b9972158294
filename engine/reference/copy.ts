// Reference for the copy kernel: the first `bytes` bytes of src, unchanged.
export function copyRef(src: Uint8Array, bytes: number): Uint8Array {
  return src.slice(0, bytes);
}
