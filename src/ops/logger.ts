import pino, { type DestinationStream, type Logger, type LoggerOptions } from "pino";
import pretty from "pino-pretty";
import type { Config } from "../config.js";

/**
 * peel's logger: pino JSON lines by default (one object per line, for log shippers), readable lines
 * when stdout is a terminal or PEEL_LOG_FORMAT=pretty (PEEL_LOG_FORMAT=json forces JSON). The
 * redaction list applies to both: keys, tokens and signatures never reach a line.
 */
export const REDACT_PATHS = [
  "req.headers.authorization",
  "headers.authorization",
  "*.headers.authorization",
  'headers["x-goog-api-key"]',
  '*.headers["x-goog-api-key"]',
  "apiKey",
  "key",
  "secret",
  "hmacKey",
  "token",
  "adminToken",
  "password",
  "*.apiKey",
  "*.secret",
  "*.hmacKey",
  "*.token",
  "*.adminToken",
  "*.password",
];

export interface LoggerDestination {
  /** where lines go. @defaultValue stdout */
  stream?: DestinationStream;
  /** whether the destination is a terminal (auto format). @defaultValue process.stdout.isTTY */
  isTTY?: boolean;
}

export function createLogger(config: Readonly<Pick<Config, "logLevel" | "logFormat">>, dest: LoggerDestination = {}): Logger {
  const options: LoggerOptions = {
    level: config.logLevel,
    base: { service: "peel" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  };
  const isTTY = dest.isTTY ?? process.stdout.isTTY === true;
  if (config.logFormat === "pretty" || (config.logFormat === "auto" && isTTY)) {
    return pino(
      options,
      pretty({
        destination: dest.stream ?? 1,
        colorize: isTTY,
        // Synchronous: the last lines before an exit (shutdown, a fatal error) are not lost.
        sync: true,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname,service",
      }),
    );
  }
  return dest.stream ? pino(options, dest.stream) : pino(options);
}
