export { startOutputBuiltin } from './service.ts';
export { decideBuiltin } from './decide.ts';
