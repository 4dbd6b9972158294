// The model runtime's error for bad input files and folders: a missing or corrupt file, an
// unsupported architecture, a tensor of the wrong shape. Messages name the file, the field or
// tensor, and what was expected; the CLI prints them without a stack trace and exits 2.

export class ModelError extends Error {
  override name = "ModelError";
}
