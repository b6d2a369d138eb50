export * from './nats.ts';
export * from './builders.ts';
export * from './fake-gitlab-git.ts';
export * from './fake-defectdojo.ts';
