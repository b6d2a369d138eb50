import type { CheckContext } from '@secbot/contracts';
import { toDojoTag } from './adapters/defectdojo/schema.ts';

/** Where one (check, scan, output) lands in DefectDojo, and how a redelivery finds it again. */
export interface DojoPlacement {
  productTypeName: string;
  productName: string;
  engagementName: string;
  testTitle: string;
  /** The tag that identifies this run's test; also in `tags`. */
  runTag: string;
  tags: string[];
  commitHash: string;
  branchTag: string;
  buildId: string;
  sourceCodeManagementUri: string;
}

export interface PlacementInput {
  context: CheckContext;
  securityCheckId: string;
  scan: string;
  /** The scan.completed this test holds (one test per evaluation); omitted by callers that only name the check. */
  scanEventId?: string;
  output: string;
  /** The output component's `config` from config.yml. */
  config: Record<string, unknown>;
}

const stripRef = (ref: string) => ref.replace(/^refs\/(heads|tags)\//, '');

/** The branch (or tag) the change is on, as DefectDojo's `branch_tag` and the engagement name use it. */
export function branchOf(context: CheckContext): { engagement: string; branchTag: string } {
  const { range, mergeRequest } = context;
  switch (range.kind) {
    case 'push':
      return { engagement: `branch:${stripRef(range.ref)}`, branchTag: stripRef(range.ref) };
    case 'tag':
      return { engagement: 'tags', branchTag: range.tag };
    case 'merge_request': {
      // A fork's branch names collide with the target's ("main"), so fork MRs get an engagement of their own.
      const fork = mergeRequest?.sourceProjectId !== undefined && mergeRequest.targetProjectId !== undefined && mergeRequest.sourceProjectId !== mergeRequest.targetProjectId;
      return { engagement: fork ? `mr:!${range.iid}` : `branch:${range.sourceBranch}`, branchTag: range.sourceBranch };
    }
  }
}

/**
 * The context model (README "DefectDojo context"): product type from the component config (default
 * `SecBot`), one product per GitLab project path, one engagement per branch, one test per
 * (check, scan, output, evaluation). DefectDojo deduplicates across the whole product, so a secret found again on
 * another branch, in an MR or in a later push of the same commits is a duplicate of the first finding,
 * and its triage carries over.
 */
export function placementFor({ context, securityCheckId, scan, scanEventId, output, config }: PlacementInput): DojoPlacement {
  const productType = typeof config['product_type'] === 'string' && config['product_type'] !== '' ? config['product_type'] : 'SecBot';
  const { engagement, branchTag } = branchOf(context);
  const sha = context.commit.sha;
  const mr = context.range.kind === 'merge_request' ? ` !${context.range.iid}` : '';
  // One test per evaluation: a later event for the same commit (every one judged anew) gets a test of its own.
  const runTag = toDojoTag(`secbot-run:${securityCheckId}:${scan}:${output}${scanEventId ? `:${scanEventId.replace(/-/g, '').slice(0, 12)}` : ''}`);
  return {
    productTypeName: productType,
    productName: context.project.pathWithNamespace,
    engagementName: engagement,
    testTitle: `${scan} ${sha.slice(0, 12)}${mr}`,
    runTag,
    tags: ['secbot', toDojoTag(`commit:${sha}`), toDojoTag(`security-check:${securityCheckId}`), runTag],
    commitHash: sha,
    branchTag,
    buildId: securityCheckId,
    sourceCodeManagementUri: context.project.webUrl,
  };
}
