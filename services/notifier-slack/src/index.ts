export { startNotifierSlack, readNotifierSlackConfig } from './service.ts';
export { renderSlackMessage, renderNothingNewMessage, SLACK_LIMITS } from './slack-message.ts';
export { planAnnouncements } from './announcements.ts';
