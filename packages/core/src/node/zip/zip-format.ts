// The zip format's numbers the readers share (APPNOTE 4.3): signatures, fixed header sizes, flag
// bits and compression methods. One place, so the strict reader and the streaming one agree.
export const LOCAL_SIG = 0x04034b50;
export const DESCRIPTOR_SIG = 0x08074b50;
/** A local file header without its name and extra field. */
export const LOCAL_BYTES = 30;
/** A data descriptor with its signature: signature, CRC-32, compressed and uncompressed size. */
export const DESCRIPTOR_BYTES = 16;
/** General-purpose flag bits. */
export const ENCRYPTED = 0x1;
export const HAS_DESCRIPTOR = 0x8;
/** Compression methods this hub accepts. */
export const STORED = 0;
export const DEFLATED = 8;
