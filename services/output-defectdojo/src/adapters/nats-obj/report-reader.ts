import type { JetStreamClient } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { errorMessage, RetryableError, TerminalError } from '@secbot/service-kit';

/** Reads a redacted report the scanner put in a JetStream object store because it was too large for the event. */
export type ReadStoredReport = (bucket: string, name: string) => Promise<string>;

export function objectStoreReports(js: JetStreamClient): ReadStoredReport {
  const objm = new Objm(js);
  return async (bucket, name) => {
    let blob: Uint8Array | null;
    try {
      blob = await (await objm.open(bucket)).getBlob(name);
    } catch (err) {
      if (/not found/i.test(errorMessage(err))) {
        throw new TerminalError(`The report bucket ${bucket} does not exist; the scanner and output-defectdojo must use the same NATS and stream.`, { cause: err });
      }
      throw new RetryableError(`Could not read report ${name} from object store bucket ${bucket}: ${errorMessage(err)}`, { cause: err });
    }
    if (blob === null) throw new TerminalError(`Report ${name} is no longer in object store bucket ${bucket}; rescan the commit.`);
    return new TextDecoder().decode(blob);
  };
}
