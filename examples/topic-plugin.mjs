// A complete plugin: channel topics. `TOPIC {channel, topic?}` sets the topic (members
// only) or asks for it; members hear about changes; joiners get the topic after JOINED.
// Run it: npm start -- --plugin ./examples/topic-plugin.mjs
import { literal, optional, size, string, type } from 'superstruct';
import { ChannelName, RelayError } from 'agentchat';

const Topic = type({
  type: literal('TOPIC'),
  channel: ChannelName,
  topic: optional(size(string(), 0, 200)),
});

/** @type {import('agentchat').Plugin} */
export default {
  name: 'topics',
  setup(relay) {
    // State lives inside setup, so every relay gets its own.
    const topics = new Map();

    relay.handle('TOPIC', {
      schema: Topic,
      handle(session, msg) {
        if (!relay.channels.get(msg.channel)) throw new RelayError('CHANNEL_NOT_FOUND', `channel ${msg.channel} does not exist`);
        if (msg.topic === undefined) {
          relay.send(session, { type: 'TOPIC', channel: msg.channel, topic: topics.get(msg.channel) ?? '' });
          return;
        }
        if (!session.channels.has(msg.channel)) throw new RelayError('NOT_INVITED', `only members of ${msg.channel} may set its topic`);
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
    relay.hook('channelDeleted', (channel) => topics.delete(channel.name));
  },
};
