export { startNotifierGitLab } from './service.ts';
export { verdictOf, evolveView, emptyView } from './verdict.ts';
export { renderNote, noteMarker } from './merge-request-note.ts';
