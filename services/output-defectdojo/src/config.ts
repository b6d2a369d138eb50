import { CommonSettings } from '@secbot/service-kit';
import { z } from 'zod';

export const OutputDefectDojoSettings = CommonSettings.extend({
  OUTPUT_DEFECTDOJO_PORT: z.coerce.number().int().min(0).max(65535).default(5003),
  /** Deliveries of one scan.completed; the backoff (0.5 s doubling to 60 s) makes 10 last about 3 minutes. */
  OUTPUT_DEFECTDOJO_MAX_DELIVER: z.coerce.number().int().min(1).max(100).default(10),
  /** One DefectDojo request; an import with async_wait returns after deduplication, so allow for it. */
  OUTPUT_DEFECTDOJO_HTTP_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).default(120),
  /** How long to poll a test for deduplication on servers without async_wait. */
  OUTPUT_DEFECTDOJO_DEDUPE_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).default(120),
  /** How often blocking outputs are re-read from DefectDojo, so triage there clears the gate; 0 turns it off. */
  OUTPUT_DEFECTDOJO_REEVALUATE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(30),
  /** How long a blocking output is re-read before it is forgotten (the KV bucket's TTL). */
  OUTPUT_DEFECTDOJO_REEVALUATE_FOR_HOURS: z.coerce.number().int().min(1).max(24 * 365).default(168),
});
export type OutputDefectDojoSettings = z.infer<typeof OutputDefectDojoSettings>;
