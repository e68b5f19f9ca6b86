/** What every generated deployment of the relay agrees on. */
import { DEFAULT_PORT } from '../protocol/index.js';

export const RELAY_PORT = DEFAULT_PORT;
/** The relay's data dir inside a container; the store finds it through the DATA_DIR variable. */
export const DATA_DIR = '/data';
/** YAML 1.1 quoting: "yes", "on" or "22:22" stay strings for readers of 1.1 (compose and Akash parse YAML in Go) and of 1.2. */
export const YAML_OUT = { version: '1.1' } as const;
