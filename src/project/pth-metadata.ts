/**
 * What an RVC/Applio voice model (.pth) says about itself: epochs, sample rate, vocoder, embedder. A .pth is
 * torch.save's zip with the pickled dict in `<stem>/data.pkl`; its metadata are plain values beside the weights.
 *
 * The pickle is read by a small interpreter that builds only plain values (numbers, strings, lists, dicts) and
 * turns everything else (classes, tensors, persistent references) into an opaque marker: nothing in the file is
 * ever called or imported, so an untrusted model cannot run code here.
 */
import { readZipEntry } from './model-zip.js';

export interface PthMetadata {
  epochs?: number;
  sampleRate?: number;
  /** "v1" or "v2". */
  version?: string;
  /** Whether the model follows pitch (f0). */
  f0?: boolean;
  vocoder?: string;
  embedder?: string;
  modelName?: string;
}

/** The metadata dict is tiny; the weights are separate zip entries, never read. */
const MAX_PICKLE_BYTES = 16 * 1024 * 1024;

const OPAQUE = Symbol('opaque');
const MARK = Symbol('mark');
type Value = null | boolean | number | bigint | string | Value[] | Map<Value, Value> | typeof OPAQUE | Buffer;

/** Undefined when the file is not a torch zip (an old-style pickled .pth) or holds no metadata. */
export async function readPthMetadata(file: string): Promise<PthMetadata | undefined> {
  let pickle: Buffer | undefined;
  try {
    pickle = await readZipEntry(file, (name) => name === 'data.pkl' || name.endsWith('/data.pkl'), MAX_PICKLE_BYTES);
  } catch {
    return undefined;
  }
  if (pickle === undefined) return undefined;
  let root: Value;
  try {
    root = unpickle(pickle);
  } catch {
    return undefined;
  }
  return root instanceof Map ? describe(root) : undefined;
}

function describe(dict: Map<Value, Value>): PthMetadata {
  const get = (key: string): Value | undefined => dict.get(key);
  const text = (key: string): string | undefined => (typeof get(key) === 'string' ? (get(key) as string) : undefined);
  const meta: PthMetadata = {};
  const epoch = get('epoch');
  // Older RVC models say "info": "300epoch" and "sr": "40k".
  const epochs = typeof epoch === 'number' ? epoch : Number(/^(\d+)\s*epoch/.exec(text('info') ?? '')?.[1] ?? Number.NaN);
  if (Number.isInteger(epochs) && epochs > 0) meta.epochs = epochs;
  const sr = get('sr');
  const sampleRate = typeof sr === 'number' ? sr : Number(/^(\d+)k$/i.exec(typeof sr === 'string' ? sr : '')?.[1] ?? Number.NaN) * 1000;
  if (Number.isInteger(sampleRate) && sampleRate > 0) meta.sampleRate = sampleRate;
  const f0 = get('f0');
  if (typeof f0 === 'boolean' || typeof f0 === 'number') meta.f0 = Boolean(f0);
  const fields = { version: 'version', vocoder: 'vocoder', embedder: 'embedder_model', modelName: 'model_name' } as const;
  for (const [field, key] of Object.entries(fields) as [keyof typeof fields, string][]) {
    const value = text(key);
    if (value !== undefined) meta[field] = value;
  }
  return meta;
}

/** Pickle protocols 0–5, the opcodes torch.save and Python's pickle use for plain data; anything else is opaque. */
export function unpickle(data: Buffer): Value {
  const stack: (Value | typeof MARK)[] = [];
  const memo = new Map<number, Value>();
  let at = 0;
  const byte = (): number => {
    if (at >= data.length) throw new Error('pickle ends early');
    return data[at++]!;
  };
  const bytes = (n: number): Buffer => {
    if (at + n > data.length) throw new Error('pickle ends early');
    const out = data.subarray(at, at + n);
    at += n;
    return out;
  };
  const u32 = (): number => bytes(4).readUInt32LE(0);
  const line = (): string => {
    const end = data.indexOf(0x0a, at);
    if (end < 0) throw new Error('pickle ends early');
    const out = data.toString('latin1', at, end);
    at = end + 1;
    return out;
  };
  const pop = (): Value => {
    const value = stack.pop();
    if (value === undefined || value === MARK) throw new Error('pickle stack underflow');
    return value;
  };
  const popMark = (): Value[] => {
    const mark = stack.lastIndexOf(MARK);
    if (mark < 0) throw new Error('pickle mark missing');
    const items = stack.splice(mark) as Value[];
    items.shift();
    return items;
  };
  const top = (): Value => {
    const value = stack.at(-1);
    if (value === undefined || value === MARK) throw new Error('pickle stack underflow');
    return value;
  };
  const setItems = (dict: Value, items: Value[]): void => {
    if (!(dict instanceof Map)) return; // items set on an opaque object (e.g. OrderedDict of weights) are dropped
    for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i]!, items[i + 1]!);
  };
  for (;;) {
    const op = byte();
    switch (op) {
      case 0x80: byte(); break; // PROTO
      case 0x95: bytes(8); break; // FRAME
      case 0x2e: return pop(); // STOP
      case 0x28: stack.push(MARK); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(byte()); break; // BININT1
      case 0x4d: stack.push(bytes(2).readUInt16LE(0)); break; // BININT2
      case 0x4a: stack.push(bytes(4).readInt32LE(0)); break; // BININT
      case 0x49: { // INT (protocol 0; "01"/"00" are booleans)
        const text = line();
        stack.push(text === '01' ? true : text === '00' ? false : Number(text));
        break;
      }
      case 0x4c: stack.push(Number(line().replace(/L$/, ''))); break; // LONG
      case 0x46: stack.push(Number(line())); break; // FLOAT
      case 0x47: stack.push(bytes(8).readDoubleBE(0)); break; // BINFLOAT
      case 0x8a: stack.push(littleEndianInt(bytes(byte()))); break; // LONG1
      case 0x8b: stack.push(littleEndianInt(bytes(u32()))); break; // LONG4
      case 0x58: stack.push(bytes(u32()).toString('utf8')); break; // BINUNICODE
      case 0x8c: stack.push(bytes(byte()).toString('utf8')); break; // SHORT_BINUNICODE
      case 0x8d: { // BINUNICODE8
        const length = Number(bytes(8).readBigUInt64LE(0));
        stack.push(bytes(length).toString('utf8'));
        break;
      }
      case 0x54: stack.push(bytes(u32()).toString('latin1')); break; // BINSTRING
      case 0x55: stack.push(bytes(byte()).toString('latin1')); break; // SHORT_BINSTRING
      case 0x56: stack.push(line()); break; // UNICODE (raw-unicode-escape; plain ASCII in practice)
      case 0x53: stack.push(line().replace(/^(['"])(.*)\1$/, '$2')); break; // STRING
      case 0x42: stack.push(Buffer.from(bytes(u32()))); break; // BINBYTES
      case 0x43: stack.push(Buffer.from(bytes(byte()))); break; // SHORT_BINBYTES
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x8f: stack.push(OPAQUE); break; // EMPTY_SET
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x64: { const dict = new Map<Value, Value>(); setItems(dict, popMark()); stack.push(dict); break; } // DICT
      case 0x61: { const item = pop(); const list = top(); if (Array.isArray(list)) list.push(item); break; } // APPEND
      case 0x65: { const items = popMark(); const list = top(); if (Array.isArray(list)) list.push(...items); break; } // APPENDS
      case 0x73: { const value = pop(); const key = pop(); setItems(top(), [key, value]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x90: popMark(); break; // ADDITEMS (to a set: opaque)
      case 0x91: popMark(); stack.push(OPAQUE); break; // FROZENSET
      case 0x70: memo.set(Number(line()), top()); break; // PUT
      case 0x71: memo.set(byte(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x67: stack.push(fromMemo(memo, Number(line()))); break; // GET
      case 0x68: stack.push(fromMemo(memo, byte())); break; // BINGET
      case 0x6a: stack.push(fromMemo(memo, u32())); break; // LONG_BINGET
      // Classes and objects: never looked up or built, only stood in for.
      case 0x63: line(); line(); stack.push(OPAQUE); break; // GLOBAL
      case 0x93: pop(); pop(); stack.push(OPAQUE); break; // STACK_GLOBAL
      case 0x52: pop(); pop(); stack.push(OPAQUE); break; // REDUCE
      case 0x62: pop(); break; // BUILD (state applied to the object below: dropped)
      case 0x81: pop(); pop(); stack.push(OPAQUE); break; // NEWOBJ
      case 0x92: pop(); pop(); pop(); stack.push(OPAQUE); break; // NEWOBJ_EX
      case 0x69: line(); line(); popMark(); stack.push(OPAQUE); break; // INST
      case 0x6f: popMark(); stack.push(OPAQUE); break; // OBJ
      case 0x51: pop(); stack.push(OPAQUE); break; // BINPERSID (a tensor's storage)
      case 0x50: line(); stack.push(OPAQUE); break; // PERSID
      case 0x82: byte(); stack.push(OPAQUE); break; // EXT1
      case 0x83: bytes(2); stack.push(OPAQUE); break; // EXT2
      case 0x84: bytes(4); stack.push(OPAQUE); break; // EXT4
      case 0x96: stack.push(Buffer.from(bytes(Number(bytes(8).readBigUInt64LE(0))))); break; // BYTEARRAY8
      case 0x8e: stack.push(Buffer.from(bytes(Number(bytes(8).readBigUInt64LE(0))))); break; // BINBYTES8
      default:
        throw new Error(`pickle opcode 0x${op.toString(16)} at byte ${at - 1} is not supported`);
    }
  }
}

function fromMemo(memo: Map<number, Value>, index: number): Value {
  const value = memo.get(index);
  if (value === undefined) throw new Error(`pickle memo ${index} missing`);
  return value;
}

function littleEndianInt(raw: Buffer): number | bigint {
  if (raw.length === 0) return 0;
  let value = 0n;
  for (let i = raw.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i]!);
  if ((raw[raw.length - 1]! & 0x80) !== 0) value -= 1n << BigInt(raw.length * 8);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}
