import { useEffect, useState } from 'react';
import { View, Text } from '@tarojs/components';
import { runWaferDemo } from '../../wafer-demo';

export default function Index() {
  const [lines, setLines] = useState<string[]>([]);

  useEffect(() => {
    const tunnel = runWaferDemo(WAFER_EXAMPLE_SERVER, (line) => {
      console.log(`[wafer-example] ${line}`);
      setLines((prev) => [...prev, line]);
    });
    return () => tunnel.close();
  }, []);

  return (
    <View className="index">
      {lines.map((line) => (
        <View key={line}>
          <Text>{line}</Text>
        </View>
      ))}
    </View>
  );
}
