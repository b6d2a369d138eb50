export { buildStories, describe, describeGlobal, type CheckStory, type ReplayEntry } from './timeline.ts';
export { readEvents } from './stream-reader.ts';
