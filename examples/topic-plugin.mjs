// A complete plugin: channel topics. `TOPIC {channel, topic?}` sets the topic (members
// only) or asks for it; members hear about changes; joiners get the topic after JOINED.
// Topics are kept in the relay's store, in this plugin's own namespace: they survive restarts.
// Run it: npm start -- --plugin ./examples/topic-plugin.mjs --plugin-options '{"topics":{"maxLength":80}}'
import { literal, optional, string, type } from 'superstruct';
import { ChannelName, RelayError } from 'agentchat';

const Topic = type({
  type: literal('TOPIC'),
  channel: ChannelName,
  topic: optional(string()),
});

/** @type {import('agentchat').Plugin<{ maxLength?: number }>} */
export default {
  name: 'topics',
  async setup(relay, options) {
    const maxLength = options.maxLength ?? 200;
    // State lives inside setup, so every relay gets its own; the store brings it back after a restart.
    const saved = relay.store.namespace('topics');
    const topics = new Map(await saved.entries());
    // In a cluster other relays set topics too: the store tells this one, so its cache stays current.
    relay.store.watch?.('topics', (channel, topic) => (topic === undefined ? topics.delete(channel) : topics.set(channel, topic)));

    relay.handle('TOPIC', {
      schema: Topic,
      async handle(session, msg) {
        if (!relay.channels.get(msg.channel)) throw new RelayError('CHANNEL_NOT_FOUND', `channel ${msg.channel} does not exist`);
        if (msg.topic === undefined) {
          relay.send(session, { type: 'TOPIC', channel: msg.channel, topic: topics.get(msg.channel) ?? '' });
          return;
        }
        // A plugin's own error codes: the client gets ERROR {code: 'NOT_A_MEMBER', message, ref: 'TOPIC'}.
        if (!session.channels.has(msg.channel)) throw new RelayError('NOT_A_MEMBER', `only members of ${msg.channel} may set its topic; JOIN it first`);
        if (msg.topic.length > maxLength) throw new RelayError('TOPIC_TOO_LONG', `a topic is at most ${maxLength} characters`, { max: maxLength });
        // Saved before anyone is told: an announced topic is never lost.
        await saved.put(msg.channel, msg.topic);
        topics.set(msg.channel, msg.topic);
        relay.publish(msg.channel, { type: 'TOPIC', channel: msg.channel, topic: msg.topic, by: session.agentId });
      },
    });

    // After JOINED and the history replay: the joiner learns the topic.
    relay.hook('joined', (session, channel) => {
      const topic = topics.get(channel.name);
      if (topic) relay.send(session, { type: 'TOPIC', channel: channel.name, topic });
    });

    // Channels can be reclaimed; drop what we kept for them.
    relay.hook('channelDeleted', (channel) => {
      topics.delete(channel.name);
      saved.delete(channel.name).catch((err) => relay.logger.error('topic_delete', { error: String(err) }));
    });
  },
};
