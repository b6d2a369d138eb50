import { emptyRecord, projectKey, type ProjectRecord } from './project-record.ts';

/** Where project records live: a KV bucket in the service, a Map in tests. */
export interface ProjectRecords {
  get(host: string, project: string): Promise<ProjectRecord>;
  /** Reads, applies `change` and writes with compare-and-set, retrying on a concurrent write. */
  update(host: string, project: string, change: (r: ProjectRecord) => ProjectRecord): Promise<ProjectRecord>;
  list(): Promise<ProjectRecord[]>;
  /** One-time markers (e.g. that findings of older events were loaded). */
  getMarker(name: string): Promise<string | undefined>;
  setMarker(name: string, value: string): Promise<void>;
}

export function memoryProjectRecords(): ProjectRecords & { records: Map<string, ProjectRecord> } {
  const records = new Map<string, ProjectRecord>();
  const markers = new Map<string, string>();
  return {
    records,
    get: (host, project) => Promise.resolve(structuredClone(records.get(projectKey(host, project)) ?? emptyRecord(host, project))),
    update(host, project, change) {
      const next = change(structuredClone(records.get(projectKey(host, project)) ?? emptyRecord(host, project)));
      records.set(projectKey(host, project), structuredClone(next));
      return Promise.resolve(next);
    },
    list: () => Promise.resolve([...records.values()].map((r) => structuredClone(r))),
    getMarker: (name) => Promise.resolve(markers.get(name)),
    setMarker(name, value) {
      markers.set(name, value);
      return Promise.resolve();
    },
  };
}
